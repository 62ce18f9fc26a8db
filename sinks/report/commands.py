"""``sitrep report daily``: the daily situation report as PDF, Markdown or JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from sitrep.commands.common import Context, fail, pass_context

if TYPE_CHECKING:  # imported when the command runs, so `sitrep --help` stays fast
    from sinks.i18n import Lang
    from sinks.report.daily import DailyReport

__all__ = ["report"]


@click.group()
def report() -> None:
    """Reports made from the indices (Elasticsearch), for commanders and the archive."""


@report.command("daily")
@click.option(
    "--date",
    "day_text",
    metavar="YYYY-MM-DD",
    help="The day, 00:00–24:00 in the operation's time zone (SITREP_TIMEZONE, WITA by "
    "default). Default: today.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["pdf", "md", "json"]),
    default="md",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file. Default: md and json to standard output, pdf to "
    "sitrep-YYYY-MM-DD.pdf in the current directory.",
)
@click.option(
    "--lang",
    type=click.Choice(["id", "en"]),
    default=None,
    help="Language of md and pdf (default SITREP_WEB__LANGUAGE, id). JSON has none.",
)
@click.option(
    "--notable",
    type=click.IntRange(0, 100),
    default=10,
    show_default=True,
    help="How many of the most severe incidents to list.",
)
@pass_context
def daily(
    ctx: Context,
    day_text: str | None,
    output_format: str,
    out: Path | None,
    lang: str | None,
    notable: int,
) -> None:
    """The daily situation report of the province (SITREP_PROVINCE_CODE).

    \b
    It holds, for one local calendar day:
      - reports per regency/city (incidents and check-ins) and incidents per category,
      - level changes of every area (from, to, when, why),
      - alerts fired, acknowledged or resolved that day, and who handled them when,
      - the most severe incidents (severity, then time) with an excerpt.

    \b
    Examples:
      sitrep report daily --date 2024-11-27
      sitrep report daily --date 2024-11-27 --format pdf          # sitrep-2024-11-27.pdf
      sitrep report daily --format json --out today.json
      sitrep report daily --date 2024-11-27 --lang en --out sitrep.md
    """
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    from schemas.registry import default_registry
    from sinks.i18n import message
    from sinks.report.daily import fetch_daily_report, parse_day
    from sinks.search.service import SearchFailed, SearchUnavailable
    from sitrep import clients

    settings = ctx.settings
    language: Lang = "en" if (lang or settings.web.language) == "en" else "id"
    try:
        day = parse_day(day_text, ZoneInfo(settings.timezone), datetime.now(UTC))
    except ValueError:
        raise click.BadParameter(
            message("report_date_invalid", language, value=day_text), param_hint="--date"
        ) from None
    es = clients.elasticsearch(settings)
    try:
        built = fetch_daily_report(es, settings, default_registry(), day, notable=notable)
    except SearchUnavailable as exc:
        fail(f"Elasticsearch at {settings.elasticsearch.url} is unreachable: {exc}")
    except (SearchFailed, ApiError, TransportError) as exc:
        fail(f"Elasticsearch could not build the report: {exc}")
    finally:
        es.close()
    _write(_rendered(built, output_format, language), output_format, out, day.isoformat())


def _rendered(built: DailyReport, output_format: str, lang: Lang) -> bytes:
    from sinks.report.pdf import render_pdf
    from sinks.report.render import render_json, render_markdown

    if output_format == "pdf":
        return render_pdf(built, lang)
    if output_format == "json":
        return (render_json(built) + "\n").encode()
    return render_markdown(built, lang).encode()


def _write(content: bytes, output_format: str, out: Path | None, day: str) -> None:
    if out is None and output_format == "pdf":
        out = Path(f"sitrep-{day}.pdf")
    if out is None:
        click.echo(content.decode(), nl=False)
        return
    try:
        out.write_bytes(content)
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
    click.echo(f"daily report of {day} written to {out}", err=True)
