"""CLI of the sinks: ``sitrep index``, ``sitrep es ...``, ``sitrep search``, ``sitrep serve``."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sitrep.commands.common import Context, fail, pass_context

if TYPE_CHECKING:
    from sinks.es.names import Family, IndexNames

# --- sitrep index ---------------------------------------------------------------------------------


@click.command()
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Prometheus metrics port (SITREP_INDEXER__METRICS_PORT, default 9108; 0 = off).",
)
@pass_context
def index(ctx: Context, metrics_port: int | None) -> None:
    """Index sitrep.reports, sitrep.status and sitrep.alerts into Elasticsearch.

    Runs until Ctrl-C or SIGTERM. Sets up the index templates first (like `sitrep es setup`),
    waiting for Elasticsearch if it is not up yet. Offsets are committed only after Elasticsearch
    acknowledged every document of a batch; while Elasticsearch is unreachable the consumer
    pauses and retries, so nothing is lost. Records that are not valid go to sitrep.deadletter.
    """
    from sinks.indexer.app import loop_stalled, run_indexer, watch_for_stalls
    from sinks.indexer.metrics import IndexerMetrics
    from sitrep.monitoring import MonitoringTokens, serve_metrics

    settings = ctx.settings
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        if stop.is_set():
            sys.exit(130)  # second Ctrl-C: leave now (nothing uncommitted is lost)
        click.echo("stopping: finishing the current batch (Ctrl-C again to leave now)", err=True)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    metrics = IndexerMetrics()
    port = settings.indexer.metrics_port if metrics_port is None else metrics_port
    server = None
    if port:
        limit_s = settings.indexer.stall_timeout_s
        try:
            server = serve_metrics(
                settings.indexer.metrics_host,
                port,
                metrics.registry,
                lambda: not loop_stalled(metrics, limit_s),
                MonitoringTokens.of(settings, "indexer"),
                "sitrep-indexer-metrics",
            )
        except OSError as exc:
            fail(f"metrics port {port} is not free ({exc}); choose another with --metrics-port")
        click.echo(
            f"metrics on http://127.0.0.1:{port}/metrics (monitoring token), health on /healthz",
            err=True,
        )
    # Exit status 70 (EX_SOFTWARE) so a supervisor restarts a stuck indexer.
    watch_for_stalls(metrics, settings.indexer.stall_timeout_s, stop, lambda: os._exit(70))
    try:
        run_indexer(settings, stop, metrics)
    finally:
        if server is not None:
            server.shutdown()


# --- sitrep es ------------------------------------------------------------------------------------


@click.group()
def es() -> None:
    """Elasticsearch index management: templates, retention, reindex."""


def _es_client(ctx: Context) -> Any:
    from sitrep import clients

    return clients.elasticsearch(ctx.settings)


def _es_failure(ctx: Context, exc: Exception) -> None:
    fail(f"Elasticsearch at {ctx.settings.elasticsearch.url}: {exc}")


@es.command()
@pass_context
def setup(ctx: Context) -> None:
    """Create or update the index templates and the status/alert indices (idempotent).

    Templates are versioned: an index created from an older version is listed with the hint
    to run `sitrep es reindex`. The indexer also runs this at start.
    """
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    from sinks.es.setup import NewerTemplateError
    from sinks.es.setup import setup as run_setup

    client = _es_client(ctx)
    try:
        result = run_setup(client, ctx.settings.indexer)
    except NewerTemplateError as exc:
        fail(str(exc))
    except (ApiError, TransportError) as exc:
        _es_failure(ctx, exc)
    for change in result.templates:
        previous = f" (was version {change.previous_version})" if change.action == "updated" else ""
        click.echo(f"template {change.name:<28} {change.action}{previous}")
    for name in result.created_indices:
        click.echo(f"index    {name:<28} created")
    if result.outdated:
        click.echo(f"{len(result.outdated)} index(es) still have an older mapping:")
        for item in result.outdated:
            click.echo(f"  {item.index} (template version {item.version})")
        click.echo("run `sitrep es reindex` to rebuild them with the current mapping")


@es.command()
@click.option(
    "--older-than",
    default="400d",
    show_default=True,
    help="Age like 400d, 60w or 2y: months that ended before now minus this go.",
)
@click.option("--apply", is_flag=True, help="Really delete (without it: only show what would go).")
@pass_context
def prune(ctx: Context, older_than: str, apply: bool) -> None:
    """Delete whole monthly report and status-history indices past retention.

    Dry run by default. Only complete months are deleted: an index goes when its whole month
    ended before the cut-off. Current status and alerts are never pruned.
    """
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    from sinks.es.names import IndexNames
    from sinks.es.retention import (
        delete_indices,
        document_counts,
        monthly_indices,
        parse_age,
        prunable,
    )

    try:
        age = parse_age(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    names = IndexNames(ctx.settings.indexer.index_prefix)
    client = _es_client(ctx)
    now = datetime.now(UTC)
    try:
        candidates = prunable(monthly_indices(client, names), names, now, age)
        counts = document_counts(client, [c.index for c in candidates])
        click.echo(f"cut-off {(now - age):%Y-%m-%d %H:%M} UTC ({older_than} ago)")
        if not candidates:
            click.echo("nothing to prune")
            return
        for candidate in candidates:
            docs = counts.get(candidate.index, 0)
            click.echo(f"  {candidate.index:<44} {candidate.month}  {docs:>10} docs")
        if not apply:
            click.echo(f"dry run: {len(candidates)} index(es) would be deleted; add --apply")
            return
        delete_indices(client, [c.index for c in candidates])
    except (ApiError, TransportError) as exc:
        _es_failure(ctx, exc)
    click.echo(f"deleted {len(candidates)} index(es)")


@es.command()
@click.option(
    "--index",
    "indices",
    multiple=True,
    help="Rebuild this index even if its mapping is current (repeatable). "
    "Default: every index with an older template version.",
)
@click.option("--dry-run", is_flag=True, help="Only show what would be rebuilt.")
@pass_context
def reindex(ctx: Context, indices: tuple[str, ...], dry_run: bool) -> None:
    """Rebuild indices with the current template (the path for mapping changes).

    Runs `es setup` first, then for each index: blocks writes (a running indexer pauses and
    retries), copies every document into a new generation NAME-rN rebuilt from its wire fields,
    checks the counts and atomically swaps NAME to an alias of the new index. See docs/search.md.
    """
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    from schemas.registry import default_registry
    from sinks.es.names import IndexNames
    from sinks.es.reindex import ReindexError, plan_for, rebuilder
    from sinks.es.reindex import reindex as run_reindex
    from sinks.es.setup import find_outdated
    from sinks.es.setup import setup as run_setup
    from sitrep.morphology import default_stemmer

    names = IndexNames(ctx.settings.indexer.index_prefix)
    client = _es_client(ctx)
    try:
        run_setup(client, ctx.settings.indexer)
        if indices:
            plans = []
            for name in indices:
                resolved = list(client.indices.get(index=name))
                if len(resolved) != 1:
                    fail(f"{name} is not one index (it resolves to {resolved or 'nothing'})")
                family = _family_of(names, resolved[0])
                if family is None:
                    fail(f"{resolved[0]} is not a sitrep index of prefix {names.prefix!r}")
                plans.append(plan_for(resolved[0], family))
        else:
            plans = [plan_for(o.index, o.family) for o in find_outdated(client, names)]
        if not plans:
            click.echo("every index already has the current mapping")
            return
        for plan in plans:
            click.echo(f"{plan.source} -> {plan.target} (written as {plan.written_name})")
        if dry_run:
            return
        registry, stemmer = default_registry(), default_stemmer()
        for plan in plans:
            total = client.count(index=plan.source)["count"]
            with click.progressbar(length=total, label=plan.source, file=sys.stderr) as bar:
                copied = run_reindex(
                    client, plan, names, rebuilder(plan.family, registry, stemmer), bar.update
                )
            click.echo(f"{plan.written_name}: {copied} documents now in {plan.target}")
    except ReindexError as exc:
        fail(f"reindex stopped, old index left in place: {exc}")
    except (ApiError, TransportError) as exc:
        _es_failure(ctx, exc)


def _family_of(names: IndexNames, index: str) -> Family | None:
    """Which kind of sitrep index ``index`` is (any generation), or None."""
    from sinks.es.names import Family

    for family in Family:
        if family.monthly and names.month_of(family, index):
            return family
    for family in (Family.STATUS, Family.ALERTS):
        if re.fullmatch(re.escape(names.base(family)) + r"(-r\d+(\.\d+)?)?", index):
            return family
    return None


# --- sitrep search --------------------------------------------------------------------------------

_MARK = re.compile(r"<mark>(.*?)</mark>")


def _terminal_highlight(fragment: str) -> str:
    import html

    return html.unescape(_MARK.sub(lambda m: click.style(m.group(1), bold=True), fragment))


@click.command()
@click.argument("query", required=False, default="")
@click.option("--regency", multiple=True, help="Regency/city code or name (repeatable).")
@click.option("--kecamatan", multiple=True, help="Kecamatan code or name (repeatable).")
@click.option("--village", multiple=True, help="Village code or name (repeatable).")
@click.option("--category", multiple=True, help="e.g. clash, money_politics (repeatable).")
@click.option("--kind", multiple=True, help="incident or check_in.")
@click.option("--phase", multiple=True, help="e.g. campaign, voting (repeatable).")
@click.option("--source", multiple=True, help="app, radio, sms, hotline, social_media, file.")
@click.option("--unit", multiple=True, help="Reporter unit, exact name, any case (repeatable).")
@click.option("--severity-min", type=int, default=None)
@click.option("--severity-max", type=int, default=None)
@click.option("--from", "start", default=None, help="2024-02-14, 2024-02-14T09:30 or with offset.")
@click.option("--to", "end", default=None, help="Exclusive; a bare date includes that day.")
@click.option("--tz", default=None, help="Time zone of --from/--to and output (default WITA).")
@click.option(
    "--sort",
    type=click.Choice(["relevance", "newest", "oldest", "severity"]),
    default=None,
    help="Default: relevance with a query, newest without.",
)
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--cursor", default=None, help="Continue after a previous page (its next cursor).")
@click.option("--facets", is_flag=True, help="Also print counts per category, regency, severity.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@click.option(
    "--export",
    "export_format",
    type=click.Choice(["csv", "jsonl"]),
    default=None,
    help="Write every hit (no limit) to --out.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--lang", type=click.Choice(["id", "en"]), default=None, help="Labels, messages.")
@pass_context
def search(
    ctx: Context,
    query: str,
    regency: tuple[str, ...],
    kecamatan: tuple[str, ...],
    village: tuple[str, ...],
    category: tuple[str, ...],
    kind: tuple[str, ...],
    phase: tuple[str, ...],
    source: tuple[str, ...],
    unit: tuple[str, ...],
    severity_min: int | None,
    severity_max: int | None,
    start: str | None,
    end: str | None,
    tz: str | None,
    sort: str | None,
    limit: int,
    cursor: str | None,
    facets: bool,
    as_json: bool,
    export_format: str | None,
    out: Path | None,
    lang: str | None,
) -> None:
    """Search field reports, like GET /v1/search.

    QUERY: words must all match (Indonesian word forms: "bentrok" finds "bentrokan"),
    "quoted phrases", OR between alternatives, -word to exclude, (groups), prefix*.

    \b
    Examples:
      sitrep search bentrok --regency 64.71 --from 2024-02-01 --to 2024-02-14
      sitrep search '"politik uang" OR amplop' --severity-min 3 --facets
      sitrep search --category hoax --export csv --out hoaks.csv
    """
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    from schemas.registry import default_registry
    from sinks.es.names import IndexNames
    from sinks.i18n import Lang, message
    from sinks.search.export import ExportFormat, export_lines
    from sinks.search.params import InvalidParameter, InvalidQuery, parse_search_request
    from sinks.search.service import SearchFailed, SearchService, SearchUnavailable
    from sinks.web.errors import invalid_parameter_text
    from sitrep.morphology import default_stemmer

    settings = ctx.settings
    language: Lang = "en" if (lang or settings.web.language) == "en" else "id"
    if export_format and out is None:
        raise click.UsageError("--export needs --out FILE")
    raw: dict[str, list[str]] = {
        "q": [query],
        "regency": list(regency),
        "kecamatan": list(kecamatan),
        "village": list(village),
        "category": list(category),
        "kind": list(kind),
        "phase": list(phase),
        "source": list(source),
        "unit": list(unit),
        "severity_min": [str(severity_min)] if severity_min is not None else [],
        "severity_max": [str(severity_max)] if severity_max is not None else [],
        "from": [start] if start else [],
        "to": [end] if end else [],
        "tz": [tz] if tz else [],
        "sort": [sort] if sort else [],
        "size": [str(min(limit, 1000))],
        "cursor": [cursor] if cursor else [],
        "facets": ["true" if facets else "false"],
    }
    stemmer = default_stemmer()
    registry = default_registry()
    try:
        request = parse_search_request(
            raw, registry, default_timezone=settings.timezone, max_size=1000, stemmer=stemmer
        )
    except InvalidQuery as exc:
        fail(message(exc.error.code, language, **exc.error.params))
    except InvalidParameter as exc:
        fail(invalid_parameter_text(exc, language))

    client = _es_client(ctx)
    service = SearchService(client, IndexNames(settings.indexer.index_prefix), registry, stemmer)
    try:
        if export_format:
            assert out is not None
            plain = replace(request, cursor=None, facets=False)
            total = service.count(plain)
            fmt = ExportFormat(export_format)
            written = 0
            with (
                out.open("w", encoding="utf-8", newline="") as handle,
                click.progressbar(length=total, label=f"export {out}", file=sys.stderr) as bar,
            ):
                for line in export_lines(service.iterate(plain), fmt, plain.timezone):
                    handle.write(line)
                    written += 1
                    bar.update(1)
            rows = written - 1 if fmt is ExportFormat.CSV else written
            click.echo(f"{rows} reports written to {out}")
            return
        _print_results(service, request, limit, as_json, language)
    except SearchUnavailable:
        fail(message("search_unavailable", language) + f" ({settings.elasticsearch.url})")
    except (SearchFailed, ApiError, TransportError) as exc:
        fail(message("search_failed", language, detail=str(exc)))


def _print_results(service: Any, request: Any, limit: int, as_json: bool, lang: Any) -> None:
    from sinks.search.present import present_facets, present_highlight, present_report

    hits: list[dict[str, Any]] = []
    page = service.search(request)
    total, aggregations, cursor = page.total, page.aggregations, page.next_cursor
    while True:
        for hit in page.hits:
            if len(hits) == limit:
                break
            hits.append(
                present_report(
                    hit["_source"],
                    request.timezone,
                    lang,
                    highlight=present_highlight(hit, request.query.terms, service.stemmer),
                )
            )
        if len(hits) >= limit or cursor is None:
            break
        page = service.search(replace(request, cursor=_decode(cursor, request), facets=False))
        cursor = page.next_cursor
    facets = None
    if request.facets:
        codes = [b["key"] for b in aggregations.get("regency", {}).get("buckets", [])]
        facets = present_facets(aggregations, request.timezone, lang, service.regency_names(codes))
    if as_json:
        document = {"total": total, "hits": hits, "next_cursor": cursor, "facets": facets}
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    label = "laporan" if lang == "id" else "reports"
    click.echo(f"{total} {label} ({request.timezone.key})")
    for hit in hits:
        when = (hit["occurred_at"] or "")[:16].replace("T", " ")
        regency = (hit["regency"] or {}).get("name", "")
        click.echo(
            f"{when}  {regency[:24]:<24} {hit['category_label'][:22]:<22} "
            f"sev {hit['severity']}  {hit['report_id']}"
        )
        text = hit.get("highlight") or (hit["text"] or "")[:160]
        click.echo(f"    {_terminal_highlight(text)}")
    if facets:
        for name in ("category", "regency", "severity"):
            counts = ", ".join(f"{b['label']} {b['count']}" for b in facets[name])
            click.echo(f"{name}: {counts}")
    if cursor is not None and len(hits) < total:
        click.echo(f"more: --cursor {cursor}")


def _decode(cursor: str, request: Any) -> Any:
    from sinks.search.params import decode_cursor

    return decode_cursor(cursor, request.sort)


# --- sitrep serve ---------------------------------------------------------------------------------


@click.command()
@click.option("--host", default=None, help="Default SITREP_WEB__HOST (127.0.0.1).")
@click.option("--port", type=int, default=None, help="Default SITREP_WEB__PORT (8000).")
@pass_context
def serve(ctx: Context, host: str | None, port: int | None) -> None:
    """Run the web service: the control room, analyst search API (/v1/search, /v1/reports/ID,
    export), alerts, /login, /metrics, /healthz and the API docs at /docs."""
    import structlog
    import uvicorn

    from sinks.web import create_app
    from sinks.web.auth import exposure_warning

    settings = ctx.settings
    app = create_app(settings)
    bind_host = host or settings.web.host
    warning = exposure_warning(bind_host, settings.web.anonymous_role)
    if warning is not None:
        structlog.get_logger("sinks.web").warning(warning)
    uvicorn.run(
        app,
        host=bind_host,
        port=port or settings.web.port,
        log_config=None,  # keep sitrep's structlog configuration
        access_log=False,
    )
