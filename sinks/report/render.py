"""The daily report for people: one layout (title, sections, tables) in the reader's language,
written out as Markdown here and as PDF in ``sinks.report.pdf``, so both carry the same
sections and the same numbers. JSON is the model itself (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from schemas.report import Category
from schemas.status import StatusLevel
from sinks.i18n import (
    ALERT_STATE_LABELS,
    ALERT_TIER_LABELS,
    CATEGORY_LABELS,
    Lang,
    format_clock,
    format_count,
    format_date,
    message,
)
from sinks.report.daily import DailyReport

__all__ = ["Layout", "Section", "Table", "layout", "render_json", "render_markdown"]

NOTHING: Final = "—"


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[int, ...]  # relative column widths (PDF)
    numeric: frozenset[int] = frozenset()  # right-aligned columns
    footer: tuple[str, ...] | None = None  # a totals row


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[str, ...] = ()
    table: Table | None = None
    empty: str = ""  # said instead of an empty table


@dataclass(frozen=True)
class Layout:
    title: str
    subtitle: tuple[str, ...]
    sections: tuple[Section, ...]


# --- pieces ---------------------------------------------------------------------------------


def _moment(at: datetime | None, report: DailyReport, lang: Lang) -> str:
    """The time of day alone within the report's day, with the date otherwise."""
    if at is None:
        return NOTHING
    if at.date() == report.date:
        return format_clock(at, lang)
    return f"{format_date(at.date(), lang)} {format_clock(at, lang)}"


def _level(level: StatusLevel, lang: Lang) -> str:
    # The level names are the operation's own terms; English readers get the gloss.
    return level.value if lang == "id" else f"{level.value} ({level.description_en})"


def _category(value: str, lang: Lang) -> str:
    try:
        return CATEGORY_LABELS[Category(value)][lang]
    except ValueError:
        return value


def _zone_abbreviation(report: DailyReport) -> str:
    return report.starts_at.strftime("%Z") or report.timezone


# --- sections -------------------------------------------------------------------------------


def _summary(report: DailyReport, lang: Lang) -> Section:
    def n(value: int) -> str:
        return format_count(value, lang)

    return Section(
        title=message("daily_summary", lang),
        lines=(
            message(
                "daily_summary_reports",
                lang,
                total=n(report.total_reports),
                incidents=n(report.total_incidents),
                check_ins=n(report.total_check_ins),
            ),
            message("daily_summary_changes", lang, count=n(len(report.level_changes))),
            message(
                "daily_summary_alerts",
                lang,
                count=n(len(report.alerts)),
                open=n(report.alerts_open),
            ),
        ),
    )


def _regencies(report: DailyReport, lang: Lang) -> Section:
    def n(value: int) -> str:
        return format_count(value, lang)

    rows = tuple(
        (r.code, r.name, n(r.reports), n(r.incidents), n(r.check_ins)) for r in report.regencies
    )
    footer = (
        "",
        message("daily_total", lang),
        n(report.total_reports),
        n(report.total_incidents),
        n(report.total_check_ins),
    )
    return Section(
        title=message("daily_regencies", lang),
        table=Table(
            headers=tuple(
                message(f"daily_col_{c}", lang)
                for c in ("code", "regency", "reports", "incidents", "check_ins")
            ),
            rows=rows,
            widths=(12, 40, 16, 16, 16),
            numeric=frozenset({2, 3, 4}),
            footer=footer,
        ),
        empty=message("daily_none", lang),
    )


def _categories(report: DailyReport, lang: Lang) -> Section:
    return Section(
        title=message("daily_categories", lang),
        table=Table(
            headers=(message("daily_col_category", lang), message("daily_col_incidents", lang)),
            rows=tuple(
                (_category(c.category, lang), format_count(c.incidents, lang))
                for c in report.categories
            ),
            widths=(60, 20),
            numeric=frozenset({1}),
        ),
        empty=message("daily_none", lang),
    )


def _changes(report: DailyReport, lang: Lang) -> Section:
    return Section(
        title=message("daily_changes", lang),
        table=Table(
            headers=tuple(
                message(f"daily_col_{c}", lang) for c in ("time", "area", "from", "to", "reason")
            ),
            rows=tuple(
                (
                    _moment(c.changed_at, report, lang),
                    f"{c.area_name} ({c.area_code})",
                    _level(c.from_level, lang),
                    _level(c.to_level, lang),
                    " ".join(c.reason.split()) or NOTHING,
                )
                for c in report.level_changes
            ),
            widths=(14, 30, 18, 18, 60),
        ),
        empty=message("daily_none", lang),
    )


def _alerts(report: DailyReport, lang: Lang) -> Section:
    def acknowledged(by: str | None, at: datetime | None) -> str:
        if by is None:
            return NOTHING
        return f"{by}, {_moment(at, report, lang)}"

    return Section(
        title=message("daily_alerts", lang),
        table=Table(
            headers=tuple(
                message(f"daily_col_{c}", lang)
                for c in ("fired", "area", "rule", "tier", "state", "acknowledged", "resolved")
            ),
            rows=tuple(
                (
                    _moment(a.fired_at, report, lang),
                    f"{a.area_name} ({a.area_code})",
                    a.rule_name,
                    ALERT_TIER_LABELS[a.tier][lang],
                    ALERT_STATE_LABELS[a.state][lang],
                    acknowledged(a.acknowledged_by, a.acknowledged_at),
                    _moment(a.resolved_at, report, lang),
                )
                for a in report.alerts
            ),
            widths=(14, 28, 30, 14, 16, 26, 14),
        ),
        empty=message("daily_none", lang),
    )


def _notable(report: DailyReport, lang: Lang) -> Section:
    def area(name: str, kecamatan: str | None) -> str:
        return f"{name}, {kecamatan}" if kecamatan else name

    return Section(
        title=message("daily_notable", lang),
        table=Table(
            headers=tuple(
                message(f"daily_col_{c}", lang)
                for c in ("time", "area", "category", "severity", "report", "text")
            ),
            rows=tuple(
                (
                    _moment(r.occurred_at, report, lang),
                    area(r.regency_name, r.kecamatan_name),
                    _category(r.category, lang),
                    str(r.severity),
                    r.report_id,
                    r.excerpt,
                )
                for r in report.notable_reports
            ),
            widths=(12, 30, 20, 12, 24, 60),
            numeric=frozenset({3}),
        ),
        empty=message("daily_none", lang),
    )


def layout(report: DailyReport, lang: Lang = "id") -> Layout:
    """Everything the report says, in order, as text in ``lang``."""
    generated = f"{format_date(report.generated_at.date(), lang)} "
    generated += f"{format_clock(report.generated_at, lang)} {report.generated_at:%Z}"
    return Layout(
        title=message("daily_title", lang, province=report.province_name),
        subtitle=(
            message(
                "daily_period",
                lang,
                date=format_date(report.date, lang),
                zone=_zone_abbreviation(report),
            ),
            message("daily_generated", lang, when=generated.strip()),
        ),
        sections=(
            _summary(report, lang),
            _regencies(report, lang),
            _categories(report, lang),
            _changes(report, lang),
            _alerts(report, lang),
            _notable(report, lang),
        ),
    )


# --- writers --------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _markdown_table(table: Table) -> list[str]:
    def row(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(_cell(c) for c in cells) + " |"

    rule = tuple("---:" if i in table.numeric else "---" for i in range(len(table.headers)))
    lines = [row(table.headers), "| " + " | ".join(rule) + " |"]
    lines.extend(row(r) for r in table.rows)
    if table.footer is not None:
        lines.append(row(tuple(f"**{c}**" if c else "" for c in table.footer)))
    return lines


def render_markdown(report: DailyReport, lang: Lang = "id") -> str:
    page = layout(report, lang)
    lines = [f"# {page.title}", ""]
    lines.extend(f"{line}  " for line in page.subtitle)
    for section in page.sections:
        lines.extend(["", f"## {section.title}", ""])
        lines.extend(f"- {line}" for line in section.lines)
        if section.table is None:
            continue
        if section.table.rows:
            lines.extend(_markdown_table(section.table))
        else:
            lines.append(section.empty)
    return "\n".join(lines) + "\n"


def render_json(report: DailyReport) -> str:
    return report.model_dump_json(indent=2)
