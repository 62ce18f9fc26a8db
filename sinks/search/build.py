"""SearchRequest -> Elasticsearch request body (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sinks.search.params import Filters, Interval, SearchRequest, SortOrder
from sinks.search.query import TEXT_FIELD
from sitrep.morphology import Stemmer

TIEBREAK: Final = {"report_id": "asc"}
SOURCE_EXCLUDES: Final = ["text_stem"]
FACET_SIZES: Final = {"category": 20, "regency": 600, "severity": 5}


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def filter_clauses(filters: Filters) -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = []
    for field, values in (
        ("district", filters.regency),
        ("subdistrict", filters.kecamatan),
        ("village", filters.village),
        ("category", tuple(v.value for v in filters.category)),
        ("kind", tuple(v.value for v in filters.kind)),
        ("phase", tuple(v.value for v in filters.phase)),
        ("source", tuple(v.value for v in filters.source)),
        ("reporter.unit.folded", filters.reporter_unit),
        ("incident_id", filters.incident_id),
    ):
        if values:
            clauses.append({"terms": {field: list(values)}})
    severity: dict[str, int] = {}
    if filters.severity_min is not None:
        severity["gte"] = filters.severity_min
    if filters.severity_max is not None:
        severity["lte"] = filters.severity_max
    if severity:
        clauses.append({"range": {"severity": severity}})
    window: dict[str, str] = {}
    if filters.start is not None:
        window["gte"] = _utc(filters.start)
    if filters.end is not None:
        window["lt"] = _utc(filters.end)
    if window:
        clauses.append({"range": {"occurred_at": window}})
    return clauses


def build_query(request: SearchRequest, stemmer: Stemmer | None = None) -> dict[str, Any]:
    text = request.query.es_query(stemmer)
    return {
        "bool": {
            "must": [text] if text is not None else [{"match_all": {}}],
            "filter": filter_clauses(request.filters),
        }
    }


def sort_clause(sort: SortOrder) -> list[Any]:
    """Every order ends with report_id, so search_after pages are stable and complete."""
    if sort is SortOrder.RELEVANCE:
        return ["_score", {"occurred_at": "desc"}, TIEBREAK]
    if sort is SortOrder.OLDEST:
        return [{"occurred_at": "asc"}, TIEBREAK]
    if sort is SortOrder.SEVERITY:
        return [{"severity": "desc"}, {"occurred_at": "desc"}, TIEBREAK]
    return [{"occurred_at": "desc"}, TIEBREAK]


def choose_interval(
    interval: Interval, start: datetime | None, end: datetime | None, now: datetime
) -> Interval:
    """The date-histogram bucket: given, or chosen so a range shows 24-100-odd buckets."""
    if interval is not Interval.AUTO:
        return interval
    if start is None:
        return Interval.DAY
    span = (end or now) - start
    if span <= timedelta(days=2):
        return Interval.HOUR
    if span <= timedelta(days=92):
        return Interval.DAY
    if span <= timedelta(days=730):
        return Interval.WEEK
    return Interval.MONTH


def facet_aggregations(request: SearchRequest, now: datetime) -> dict[str, Any]:
    interval = choose_interval(request.interval, request.filters.start, request.filters.end, now)
    histogram: dict[str, Any] = {
        "field": "occurred_at",
        "calendar_interval": interval.value,
        "time_zone": request.timezone.key,
        "min_doc_count": 0,
    }
    if request.filters.start is not None:
        end = request.filters.end or now
        histogram["extended_bounds"] = {
            "min": int(request.filters.start.timestamp() * 1000),
            "max": int(end.timestamp() * 1000) - 1,
        }
    return {
        "category": {"terms": {"field": "category", "size": FACET_SIZES["category"]}},
        "regency": {"terms": {"field": "district", "size": FACET_SIZES["regency"]}},
        "severity": {
            "terms": {
                "field": "severity",
                "size": FACET_SIZES["severity"],
                "order": {"_key": "asc"},
            }
        },
        "occurred": {"date_histogram": histogram},
    }


def highlight_clause() -> dict[str, Any]:
    # Whole field (reports are short), HTML-escaped; the Python stemmer's matches are marked
    # afterwards and the result is cut to a fragment (sinks.text).
    return {
        "encoder": "html",
        "pre_tags": ["<mark>"],
        "post_tags": ["</mark>"],
        "fields": {TEXT_FIELD: {"number_of_fragments": 0}},
    }


def search_body(
    request: SearchRequest, now: datetime, stemmer: Stemmer | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "query": build_query(request, stemmer),
        "sort": sort_clause(request.sort),
        "size": request.size,
        "track_total_hits": True,
        "_source": {"excludes": SOURCE_EXCLUDES},
    }
    if request.cursor is not None:
        body["search_after"] = list(request.cursor)
    if request.query.tree is not None:
        body["highlight"] = highlight_clause()
    if request.facets:
        body["aggs"] = facet_aggregations(request, now)
    return body
