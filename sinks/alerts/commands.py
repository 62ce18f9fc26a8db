"""``sitrep alerts`` (list, show, ack, silences) and ``sitrep operators`` (web tokens)."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from schemas.audit import AuditAction
from sinks.web.commands import ROLE_CHOICE
from sitrep.commands.common import Context, fail, pass_context

__all__ = ["alerts", "operators"]


def _desk(ctx: Context, with_kafka: bool) -> Any:
    from sinks.alerts.desk import AlertDesk
    from sinks.es.names import IndexNames
    from sitrep import clients

    settings = ctx.settings
    producer = None
    if with_kafka:
        try:
            producer = clients.kafka_producer(settings, client_id="sitrep-alerts-cli")
        except Exception as exc:  # kafka-python raises several types when no broker answers
            fail(f"Kafka at {settings.kafka.bootstrap_servers} is unreachable: {exc}")
    return AlertDesk(
        clients.elasticsearch(settings),
        IndexNames(settings.indexer.index_prefix),
        producer,
        settings.kafka.topics,
    )


def _local(ctx: Context, at: datetime | None) -> str:
    if at is None:
        return "-"
    return at.astimezone(ZoneInfo(ctx.settings.timezone)).strftime("%d-%m-%Y %H:%M %Z")


@click.group()
def alerts() -> None:
    """Alerts raised by the worker's rules: list, acknowledge, silence notifications.

    Alerts are read from Elasticsearch (sitrep-alerts, kept by `sitrep index`). An
    acknowledgement goes through Kafka to the worker that owns the alert, which publishes the
    acknowledged alert (and so the notifiers and the index learn of it).
    """


@alerts.command("list")
@click.option(
    "--state",
    type=click.Choice(["firing", "acknowledged", "resolved"]),
    multiple=True,
    help="Only these states (repeatable); default all.",
)
@click.option("--area", help="Area code; includes the areas inside it.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@pass_context
def list_alerts(ctx: Context, state: tuple[str, ...], area: str | None, limit: int) -> None:
    """Recent alerts, newest first (times in local time)."""
    from schemas.alert import AlertState

    found = _desk(ctx, with_kafka=False).recent(
        [AlertState(s) for s in state], limit=limit, area_prefix=area
    )
    if not found:
        click.echo("no alerts")
        return
    for alert in found:
        click.echo(
            f"{_local(ctx, alert.updated_at):<22} {alert.state.value:<12} {alert.tier.value:<8} "
            f"{alert.area_name or alert.area_code:<28} {alert.rule_id:<24} {alert.alert_id}"
        )


@alerts.command("show")
@click.argument("alert_id")
@pass_context
def show(ctx: Context, alert_id: str) -> None:
    """One alert as JSON."""
    from sinks.alerts.desk import AlertNotFound

    try:
        alert = _desk(ctx, with_kafka=False).find(alert_id)
    except AlertNotFound:
        fail(f"alert {alert_id} not found (it may not be indexed yet)")
    click.echo(alert.model_dump_json(indent=2, exclude_none=True))


@alerts.command("ack")
@click.argument("alert_id")
@click.option("--by", help="Who acknowledges (default: the login name).")
@click.option("--note", help="Free text kept with the acknowledgement.")
@pass_context
def ack(ctx: Context, alert_id: str, by: str | None, note: str | None) -> None:
    """Acknowledge ALERT_ID: it stays open until resolved, but everyone sees it is handled."""
    from sinks.alerts.desk import AlertNotFound, AlertResolved

    desk = _desk(ctx, with_kafka=True)
    try:
        sent = desk.acknowledge(alert_id, by or getpass.getuser(), datetime.now(UTC), note)
        _audit(ctx, desk, AuditAction.ACKNOWLEDGE, sent.alert_id, sent.acknowledged_by, note)
    except AlertNotFound:
        fail(f"alert {alert_id} not found (it may not be indexed yet)")
    except AlertResolved:
        fail(f"alert {alert_id} is already resolved")
    finally:
        desk.producer.close(timeout=10)
    click.echo(f"acknowledged {sent.alert_id} as {sent.acknowledged_by}")


@alerts.group("silence")
def silence() -> None:
    """Hold back notifications (by rule and/or area) for a time; alerts are still recorded."""


@silence.command("add")
@click.option("--rule", "rule_id", help="Rule id; default every rule.")
@click.option("--area", "area_code", help="Area code (and the areas inside it); default all.")
@click.option("--minutes", type=click.IntRange(1, 60 * 24 * 90), help="Length from now.")
@click.option("--until", "until", help="End, ISO 8601 (local time WITA if no offset).")
@click.option("--by", help="Who silences (default: the login name).")
@click.option("--comment", help="Why.")
@pass_context
def silence_add(
    ctx: Context,
    rule_id: str | None,
    area_code: str | None,
    minutes: int | None,
    until: str | None,
    by: str | None,
    comment: str | None,
) -> None:
    """Create a silence starting now."""
    from pydantic import ValidationError

    from schemas.alert import Silence
    from sinks.alerts.desk import new_silence_id

    if (minutes is None) == (until is None):
        fail("give exactly one of --minutes and --until")
    now = datetime.now(UTC)
    if until is not None:
        try:
            ends = datetime.fromisoformat(until)
        except ValueError:
            fail(f"--until {until!r} is not an ISO 8601 time, e.g. 2024-11-27T18:00")
        if ends.tzinfo is None:
            ends = ends.replace(tzinfo=ZoneInfo(ctx.settings.timezone))
    else:
        ends = now + timedelta(minutes=minutes or 0)
    try:
        record = Silence(
            silence_id=new_silence_id(now),
            rule_id=rule_id,
            area_code=area_code,
            starts_at=now,
            ends_at=ends,
            created_by=by or getpass.getuser(),
            created_at=now,
            comment=comment,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    desk = _desk(ctx, with_kafka=True)
    try:
        desk.add_silence(record)
        _audit(ctx, desk, AuditAction.SILENCE_ADD, record.silence_id, record.created_by, comment)
    finally:
        desk.producer.close(timeout=10)
    click.echo(f"{record.silence_id} until {_local(ctx, record.ends_at)}")


@silence.command("list")
@pass_context
def silence_list(ctx: Context) -> None:
    """Silences in force or scheduled."""
    from sinks.alerts.desk import current_silences
    from sitrep import clients

    settings = ctx.settings
    found = current_silences(
        lambda: clients.kafka_consumer(settings, client_id="sitrep-alerts-cli"),
        settings.kafka.topics.silences,
        datetime.now(UTC),
    )
    if not found:
        click.echo("no silences")
    for item in found:
        click.echo(
            f"{item.silence_id:<32} rule={item.rule_id or '*':<24} "
            f"area={item.area_code or '*':<10} {_local(ctx, item.starts_at)} -> "
            f"{_local(ctx, item.ends_at)} by {item.created_by}"
        )


@silence.command("remove")
@click.argument("silence_id")
@pass_context
def silence_remove(ctx: Context, silence_id: str) -> None:
    """End a silence now."""
    desk = _desk(ctx, with_kafka=True)
    try:
        desk.remove_silence(silence_id)
        _audit(ctx, desk, AuditAction.SILENCE_REMOVE, silence_id, getpass.getuser(), None)
    finally:
        desk.producer.close(timeout=10)
    click.echo(f"removed {silence_id}")


def _audit(
    ctx: Context, desk: Any, action: AuditAction, target: str, user: str, detail: str | None
) -> None:
    """The same audit trail as the web service's. Whoever runs this command line on the
    server has its files and keys: an administrator (``via`` cli)."""
    from schemas.audit import AuditRecord
    from sitrep.audit import write_audit

    record = AuditRecord(
        user=user,
        role="admin",
        via="cli",
        action=action,
        target=target,
        at=datetime.now(UTC),
        detail=detail,
    )
    write_audit(desk.producer, ctx.settings.kafka.topics.audit, record)


@click.group()
def operators() -> None:
    """Operator tokens of the web service (stored hashed in SITREP_WEB__TOKENS_FILE)."""


@operators.command("add")
@click.option("--name", required=True, help="Who uses the token (shown as acknowledged_by).")
@click.option(
    "--role",
    "roles",
    type=ROLE_CHOICE,
    multiple=True,
    default=("commander",),
    show_default=True,
    help="viewer < analyst (search, export) < commander (acknowledge, silence) < admin; "
    "each includes the ones before it.",
)
@pass_context
def operators_add(ctx: Context, name: str, roles: tuple[str, ...]) -> None:
    """Create a token and print it ONCE; only its sha256 is stored."""
    from sinks.web.operators import OperatorRole, add_operator, new_operator_grant

    token, grant = new_operator_grant(
        name, tuple(OperatorRole(r) for r in dict.fromkeys(roles)), datetime.now(UTC)
    )
    path = ctx.settings.web.tokens_path(ctx.settings.home)
    add_operator(path, grant)
    click.echo(f"token {grant.token_id} for {name} ({', '.join(roles)}) in {path}", err=True)
    click.echo(token)


@operators.command("list")
@pass_context
def operators_list(ctx: Context) -> None:
    """Token ids, names and roles (never the tokens)."""
    from sinks.web.operators import load_operator_file

    for grant in load_operator_file(ctx.settings.web.tokens_path(ctx.settings.home)).operators:
        roles = ",".join(role.value for role in grant.roles)
        click.echo(f"{grant.token_id}  {grant.name:<32} {roles}")


@operators.command("revoke")
@click.argument("token_id")
@pass_context
def operators_revoke(ctx: Context, token_id: str) -> None:
    """Revoke a token; the web service notices within a request."""
    from sinks.web.operators import revoke_operator

    if not revoke_operator(ctx.settings.web.tokens_path(ctx.settings.home), token_id):
        fail(f"no token {token_id}")
    click.echo(f"revoked {token_id}")
