"""Elasticsearch hits and aggregations -> what analysts see: local times, names, labels (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from schemas.report import (
    Category,
    IncidentState,
    OperationPhase,
    ReporterRole,
    ReportKind,
    ReportSource,
)
from sinks.i18n import (
    CATEGORY_LABELS,
    KIND_LABELS,
    PHASE_LABELS,
    ROLE_LABELS,
    SEVERITY_LABELS,
    SOURCE_LABELS,
    STATE_LABELS,
    Lang,
)
from sinks.text import HighlightTerms, fragment, highlight_plain, mark_matches
from sitrep.morphology import Stemmer


def local_time(value: str | None, zone: ZoneInfo) -> str | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(zone).isoformat()


def _label(table: dict[Any, dict[Lang, str]], enum: type[Any], value: Any, lang: Lang) -> str:
    try:
        return table[enum(value)][lang]
    except (ValueError, KeyError):
        return str(value)


def _area(code: str | None, name: str | None) -> dict[str, str] | None:
    if not code:
        return None
    return {"code": code, "name": name or code}


def present_highlight(
    hit: dict[str, Any], terms: HighlightTerms, stemmer: Stemmer | None
) -> str | None:
    if terms.empty:
        return None
    engine = hit.get("highlight", {}).get("text")
    text = hit.get("_source", {}).get("text", "")
    marked = (
        mark_matches(engine[0], terms, stemmer) if engine else highlight_plain(text, terms, stemmer)
    )
    return fragment(marked)


def present_report(
    source: dict[str, Any],
    zone: ZoneInfo,
    lang: Lang,
    *,
    highlight: str | None = None,
    score: float | None = None,
) -> dict[str, Any]:
    """One report as the API returns it: wire fields, local times, area names, labels."""
    reporter = source.get("reporter", {})
    result: dict[str, Any] = {
        "report_id": source.get("report_id"),
        "occurred_at": local_time(source.get("occurred_at"), zone),
        "received_at": local_time(source.get("received_at"), zone),
        "regency": _area(source.get("district"), source.get("regency_name")),
        "kecamatan": _area(source.get("subdistrict"), source.get("subdistrict_name")),
        "village": _area(source.get("village"), source.get("village_name")),
        "tps": source.get("tps"),
        "location": source.get("location"),
        "kind": source.get("kind"),
        "kind_label": _label(KIND_LABELS, ReportKind, source.get("kind"), lang),
        "category": source.get("category"),
        "category_label": _label(CATEGORY_LABELS, Category, source.get("category"), lang),
        "severity": source.get("severity"),
        "incident_id": source.get("incident_id"),
        "incident_state": source.get("incident_state"),
        "incident_state_label": _label(
            STATE_LABELS, IncidentState, source.get("incident_state"), lang
        ),
        "reporter": {
            "unit": reporter.get("unit"),
            "role": reporter.get("role"),
            "role_label": _label(ROLE_LABELS, ReporterRole, reporter.get("role"), lang),
        },
        "source": source.get("source"),
        "source_label": _label(SOURCE_LABELS, ReportSource, source.get("source"), lang),
        "phase": source.get("phase"),
        "phase_label": _label(PHASE_LABELS, OperationPhase, source.get("phase"), lang),
        "text": source.get("text"),
    }
    if highlight is not None:
        result["highlight"] = highlight
    if score is not None:
        result["score"] = score
    return result


def present_facets(
    aggregations: dict[str, Any], zone: ZoneInfo, lang: Lang, regency_names: dict[str, str]
) -> dict[str, Any]:
    def buckets(name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = aggregations.get(name, {}).get("buckets", [])
        return found

    return {
        "category": [
            {
                "key": b["key"],
                "label": _label(CATEGORY_LABELS, Category, b["key"], lang),
                "count": b["doc_count"],
            }
            for b in buckets("category")
        ],
        "regency": [
            {
                "key": b["key"],
                "label": regency_names.get(b["key"], b["key"]),
                "count": b["doc_count"],
            }
            for b in buckets("regency")
        ],
        "severity": [
            {
                "key": int(b["key"]),
                "label": SEVERITY_LABELS.get(int(b["key"]), {"id": "", "en": ""})[lang],
                "count": b["doc_count"],
            }
            for b in buckets("severity")
        ],
        "occurred": [
            {
                "start": datetime.fromtimestamp(b["key"] / 1000, zone).isoformat(),
                "count": b["doc_count"],
            }
            for b in buckets("occurred")
        ],
    }
