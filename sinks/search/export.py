"""CSV and JSON Lines rows of exported reports (pure, streamed line by line)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from sinks.search.present import local_time


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"

    @property
    def media_type(self) -> str:
        return "text/csv; charset=utf-8" if self is ExportFormat.CSV else "application/x-ndjson"


CSV_COLUMNS: Final = (
    "report_id",
    "occurred_at_local",
    "occurred_at_utc",
    "received_at_local",
    "regency_code",
    "regency_name",
    "kecamatan_code",
    "kecamatan_name",
    "village_code",
    "village_name",
    "tps",
    "lat",
    "lon",
    "kind",
    "category",
    "severity",
    "incident_id",
    "incident_state",
    "reporter_unit",
    "reporter_role",
    "source",
    "phase",
    "text",
)

# Spreadsheet programs run cells that start with these as formulas (CSV injection).
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(source: dict[str, Any], zone: ZoneInfo) -> list[Any]:
    reporter = source.get("reporter", {})
    location = source.get("location") or {}
    row = [
        source.get("report_id"),
        local_time(source.get("occurred_at"), zone),
        local_time(source.get("occurred_at"), ZoneInfo("UTC")),
        local_time(source.get("received_at"), zone),
        source.get("district"),
        source.get("regency_name"),
        source.get("subdistrict"),
        source.get("subdistrict_name"),
        source.get("village"),
        source.get("village_name"),
        source.get("tps"),
        location.get("lat"),
        location.get("lon"),
        source.get("kind"),
        source.get("category"),
        source.get("severity"),
        source.get("incident_id"),
        source.get("incident_state"),
        reporter.get("unit"),
        reporter.get("role"),
        source.get("source"),
        source.get("phase"),
        source.get("text"),
    ]
    return [_safe_cell(v) for v in row]


def csv_lines(sources: Iterable[dict[str, Any]], zone: ZoneInfo) -> Iterator[str]:
    """Header, then one CSV line per report (UTF-8 with BOM so spreadsheets read Indonesian
    names correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return value

    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + flush()
    for source in sources:
        writer.writerow(csv_row(source, zone))
        yield flush()


def jsonl_lines(sources: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One stored report per line, as indexed (wire fields plus area names)."""
    for source in sources:
        yield json.dumps(source, ensure_ascii=False, separators=(",", ":")) + "\n"


def export_lines(
    sources: Iterable[dict[str, Any]], fmt: ExportFormat, zone: ZoneInfo
) -> Iterator[str]:
    return csv_lines(sources, zone) if fmt is ExportFormat.CSV else jsonl_lines(sources)
