"""``sitrep demo``: the whole pipeline, as far as it exists, on the running stack.

Starts the worker, the indexer, the web service and the notifier in the background, feeds a
slice of a shipped scenario through Kafka, waits until everything is processed, and shows the
result: the situation per regency and the alerts raised (from Elasticsearch), and a search
through the web API.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from sitrep import clients
from sitrep.log_setup import quiet_library_logs
from sitrep.settings import Settings
from sitrep.stack import roles
from sitrep.topics import desired_topics, ensure_topics, group_lag

from .common import Context, fail, pass_context

SEARCH_EXAMPLE = "bentrok"
# The demo's own login (role commander: search, export, acknowledge). Its password is new on
# every run and only printed; the users file keeps its scrypt hash like any other user's.
DEMO_USER = "demo"


@click.group(invoke_without_command=True)
@click.option("--scenario", default="pilkada-kaltim-2024", show_default=True)
@click.option("--start", default="2024-11-26", show_default=True, help="Scenario time to start at.")
@click.option("--duration", default="2d", show_default=True, help="Scenario time to feed.")
@click.option("--seed", default=1, show_default=True)
@click.option("--timeout", "timeout_s", default=300, show_default=True, help="Seconds to wait.")
@click.pass_context
def demo(
    click_ctx: click.Context,
    scenario: str,
    start: str,
    duration: str,
    seed: int,
    timeout_s: int,
) -> None:
    """Run the pipeline on a scenario: simulate -> Kafka -> worker + indexer -> search.

    Needs the stack (`sitrep stack up`). The worker, indexer and web service keep running
    afterwards; `sitrep demo stop` (or `sitrep stack down`) stops them.
    """
    if click_ctx.invoked_subcommand is not None:
        return
    ctx: Context = click_ctx.obj
    settings = ctx.settings
    _ensure_topics(settings)
    for role in roles.ROLES:
        state = roles.start_role(settings, role)
        click.echo(f"{role.name:<8} running (pid {state.pid}), log {state.log_file}")

    from producers.commands import simulate

    click.echo(f"\nfeeding {scenario} from {start} for {duration} of scenario time ...")
    click_ctx.invoke(simulate, scenario=scenario, start=start, duration=duration, seed=seed)

    _wait_until_processed(settings, timeout_s)
    _show_situation(settings)
    _show_alerts(settings)
    password = _demo_login(settings)
    _show_search(settings, password)
    monitoring = _demo_monitoring_token(settings)
    feed = roles.start_role(settings, roles.feed_role(scenario, _feed_start(start, duration), seed))
    web = f"http://{settings.web.host}:{settings.web.port}"
    click.echo(
        f"\ncontrol room {web}/   (open it in a browser: live board and alerts)\n"
        f"login        {web}/login   user {DEMO_USER}, password {password}   (commander)\n"
        f"search API   {web}/v1/search?q={SEARCH_EXAMPLE}   (docs: {web}/docs)\n"
        f"alerts API   {web}/v1/alerts?state=firing\n"
        f"worker       curl -H 'Authorization: Bearer {monitoring}' "
        f"http://{settings.worker.web_host}:{settings.worker.web_port}/areas\n"
        f"notifier log {settings.home.resolve() / 'logs' / 'notifier.log'}\n"
        f"feed         the scenario goes on at {roles.FEED_SPEEDUP}x (pid {feed.pid}, log "
        f"{feed.log_file})\n"
        "stop         sitrep demo stop   (the stack: sitrep stack down)"
    )


def _feed_start(start: str, duration: str) -> str:
    """Scenario time where the fed slice ends: the feed carries on from there."""
    from producers.simulator.scenario import parse_duration

    return (datetime.fromisoformat(start) + parse_duration(duration)).isoformat(timespec="minutes")


@demo.command()
@pass_context
def stop(ctx: Context) -> None:
    """Stop the feed, the worker, indexer, web service and notifier the demo started."""
    for name, stopped in roles.stop_roles(ctx.settings):
        click.echo(f"{name:<8} {'stopped' if stopped else 'was not running'}")


def _ensure_topics(settings: Settings) -> None:
    from kafka.errors import KafkaTimeoutError

    try:
        with quiet_library_logs():
            admin = clients.kafka_admin(settings, bootstrap_timeout_ms=10_000)
    except KafkaTimeoutError:
        fail(f"no Kafka at {settings.kafka.bootstrap_servers}; start it with `sitrep stack up`")
    try:
        ensure_topics(admin, desired_topics(settings.kafka))
    finally:
        admin.close()


def _wait_until_processed(settings: Settings, timeout_s: int) -> None:
    """Until the worker and the indexer have committed everything on sitrep.reports, and the
    indexer everything the worker then wrote to sitrep.status."""
    topics = settings.kafka.topics
    watched = {
        "worker": (settings.worker.app_id, topics.reports),
        "indexer": (settings.indexer.group_id, topics.reports),
        "status": (settings.indexer.group_id, topics.status),
        "alerts": (settings.indexer.group_id, topics.alerts),
        "notifier": (settings.notify.group_id, topics.alerts),
    }
    admin = clients.kafka_admin(settings)
    deadline = time.monotonic() + timeout_s
    total, settled = 1, 0
    try:
        with click.progressbar(length=total, label="processing", show_eta=False) as bar:
            # Twice in a row, a few seconds apart: the worker sends statuses debounced
            # (EMIT_INTERVAL_MS), so an empty status backlog can come just before them.
            while settled < 2:
                lags = _lags(admin, watched)
                if lags is not None:
                    backlog = max(lags.values())
                    total = max(total, backlog)
                    bar.length = total
                    bar.update(total - backlog - bar.pos)
                    settled = settled + 1 if backlog == 0 else 0
                if time.monotonic() > deadline:
                    fail(
                        f"not processed within {timeout_s}s (backlog {lags}); see the logs "
                        f"under {settings.home.resolve() / 'logs'}"
                    )
                time.sleep(3 if settled else 1)
    finally:
        admin.close()


def _lags(admin: Any, watched: dict[str, tuple[str, str]]) -> dict[str, int] | None:
    """Backlog per (consumer group, topic); None while Kafka cannot say yet (a retriable
    error, e.g. the group coordinator of a new cluster is still being elected)."""
    from kafka.errors import KafkaError

    try:
        return {name: group_lag(admin, *group_topic) for name, group_topic in watched.items()}
    except KafkaError as exc:
        if exc.retriable:
            return None
        raise


def _show_situation(settings: Settings) -> None:
    from schemas.registry import default_registry
    from sinks.es.names import IndexNames

    es = clients.elasticsearch(settings)
    registry = default_registry()
    zone = ZoneInfo(settings.timezone)
    names = IndexNames(settings.indexer.index_prefix)
    es.indices.refresh(index=names.status)
    expected = [area.code for area in registry.regencies(settings.province_code)]
    found = {
        doc["_id"]: doc["_source"]
        for doc in es.mget(index=names.status, ids=[settings.province_code, *expected])["docs"]
        if doc.get("found")
    }
    province = registry.require(settings.province_code)
    reported = sum(code in found for code in expected)
    click.echo(f"\nsituasi {province.name} ({reported}/{len(expected)} kabupaten/kota):")
    click.echo(
        f"{'kode':<7} {'wilayah':<32} {'status':<16} {'skor':>6} {'insiden':>7}  laporan terakhir"
    )
    for code in [settings.province_code, *expected]:
        status = found.get(code)
        if status is None:
            click.echo(f"{code:<7} {registry.require(code).name:<32} (belum ada status)")
            continue
        click.echo(
            f"{code:<7} {status['area_name']:<32} {status['level']:<16} {status['score']:>6.1f} "
            f"{status['open_incidents']:>7}  {_local(status.get('last_report_at'), zone)}"
        )
    es.close()


def _show_alerts(settings: Settings, shown: int = 8) -> None:
    from collections import Counter

    from sinks.alerts.desk import AlertDesk
    from sinks.es.names import IndexNames

    es = clients.elasticsearch(settings)
    names = IndexNames(settings.indexer.index_prefix)
    es.indices.refresh(index=names.alerts)
    alerts = AlertDesk(es, names, None, settings.kafka.topics).recent(limit=1000)
    es.close()
    zone = ZoneInfo(settings.timezone)
    by_rule = Counter((a.rule_name, a.tier.value, a.state.value) for a in alerts)
    click.echo(f"\nperingatan: {len(alerts)}")
    for (rule, tier, state), count in sorted(by_rule.items()):
        click.echo(f"  {count:>4}  {rule:<36} {tier:<9} {state}")
    for alert in alerts[:shown]:
        click.echo(
            f"  {_local(alert.updated_at.isoformat(), zone)}  {alert.state.value:<9} "
            f"{alert.message_id[:90]}"
        )


def _demo_login(settings: Settings) -> str:
    """(Re)create the demo user with a fresh password, which is returned to be shown."""
    import secrets
    from datetime import UTC

    from sinks.web.operators import OperatorRole
    from sinks.web.users import add_user, new_user

    password = secrets.token_urlsafe(12)
    account = new_user(DEMO_USER, OperatorRole.COMMANDER, password, datetime.now(UTC))
    add_user(settings.web.users_path(settings.home), account, replace=True)
    return password


def _demo_monitoring_token(settings: Settings) -> str:
    """(Re)create the demo's monitoring token (worker pages, indexer and notifier metrics),
    returned to be shown; the roles already running accept it with their next request."""
    from datetime import UTC

    from sitrep.monitoring import add_monitoring_token, new_monitoring_grant

    token, grant = new_monitoring_grant(DEMO_USER, datetime.now(UTC))
    path = settings.monitoring.tokens_path(settings.home)
    add_monitoring_token(path, grant, replace=True)
    return token


def _show_search(settings: Settings, password: str) -> None:
    """Search through the web API, logged in as the demo user the way a browser is."""
    import httpx

    web = f"http://{settings.web.host}:{settings.web.port}"
    url = f"{web}/v1/search"
    try:
        with httpx.Client(base_url=web, timeout=10) as client:
            login = client.post("/v1/login", json={"user": DEMO_USER, "password": password})
            login.raise_for_status()
            response = client.get("/v1/search", params={"q": SEARCH_EXAMPLE, "size": 3})
            response.raise_for_status()
    except httpx.HTTPError as exc:
        fail(f"the search API at {url} did not answer: {exc}")
    body: dict[str, Any] = response.json()
    click.echo(f'\npencarian "{SEARCH_EXAMPLE}": {body["total"]} laporan, misalnya:')
    for hit in body["hits"]:
        click.echo(f"  {hit['occurred_at'][:16]}  {hit['regency']['name']}: {hit['text'][:60]}")


def _local(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(zone).strftime("%d-%m-%Y %H:%M WITA")
