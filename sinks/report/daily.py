"""The daily situation report: what happened in the province on one local calendar day.

The day runs from 00:00 to 24:00 in the operation's time zone (``settings.timezone``, WITA by
default), so a report at 23:30 WITA belongs to that day and one at 00:30 WITA to the next, even
though both fall on the same UTC date.

Everything here is pure except ``fetch_daily_report``: the request bodies are built by small
functions, and the report is assembled from plain Elasticsearch response dicts, so both can be
tested without a cluster. Sources:

* counts and notable reports: the reports alias (``occurred_at`` within the day);
* level changes: the status-history alias. Every status update is kept there, and all updates
  after a change repeat its ``level_changed_at``, so one change is one (area, level_changed_at)
  pair; the first record of an area (no ``previous_level``) is its initial status, not a change;
* alerts: the alerts index (one document per alert, in its latest state) for every alert fired,
  acknowledged or resolved within the day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import structlog
from elasticsearch import Elasticsearch
from pydantic import BaseModel, Field

from schemas.alert import AlertState, AlertTier
from schemas.registry import AreaRegistry
from schemas.report import ReportKind
from schemas.status import StatusLevel
from sinks.alerts.desk import readable_alerts
from sinks.es.names import IndexNames
from sinks.search.build import FACET_SIZES
from sinks.search.service import call_elasticsearch
from sitrep.settings import Settings

__all__ = [
    "DEFAULT_NOTABLE",
    "MAX_NOTABLE",
    "AlertHandling",
    "CategoryCount",
    "DailyReport",
    "LevelChange",
    "NotableReport",
    "RegencyCount",
    "alert_handling",
    "alerts_request",
    "build_daily_report",
    "category_counts",
    "day_bounds",
    "excerpt",
    "fetch_daily_report",
    "level_changes",
    "level_changes_request",
    "notable_reports",
    "parse_day",
    "regency_counts",
    "reports_request",
]

log = structlog.get_logger("sinks.report")

DEFAULT_NOTABLE: Final = 10
MAX_NOTABLE: Final = 100  # top_hits cannot return more (index.max_inner_result_window)
EXCERPT_CHARS: Final = 200
MAX_LEVEL_CHANGES: Final = 5000
MAX_ALERTS: Final = 1000
_DAY_PATTERN: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NOTABLE_FIELDS: Final = [
    "report_id",
    "occurred_at",
    "district",
    "regency_name",
    "subdistrict",
    "subdistrict_name",
    "kind",
    "category",
    "severity",
    "text",
]
_NOTABLE_SORT: Final = [{"severity": "desc"}, {"occurred_at": "asc"}, {"report_id": "asc"}]
_CHANGE_FIELDS: Final = [
    "area_code",
    "area_level",
    "area_name",
    "level",
    "previous_level",
    "level_changed_at",
    "change_reason",
]


# --- the report -----------------------------------------------------------------------------


class RegencyCount(BaseModel):
    code: str = Field(examples=["64.71"])
    name: str = Field(examples=["Kota Balikpapan"])
    reports: int = Field(ge=0, description="incidents and check-ins")
    incidents: int = Field(ge=0)
    check_ins: int = Field(ge=0)


class CategoryCount(BaseModel):
    category: str = Field(examples=["clash"])
    incidents: int = Field(ge=0)


class LevelChange(BaseModel):
    area_code: str
    area_name: str
    area_level: str = Field(examples=["regency"])
    from_level: StatusLevel
    to_level: StatusLevel
    changed_at: datetime = Field(description="local time")
    reason: str


class AlertHandling(BaseModel):
    alert_id: str
    rule_id: str
    rule_name: str
    tier: AlertTier
    state: AlertState = Field(description="latest state, also if it changed after the day")
    area_code: str
    area_name: str
    fired_at: datetime = Field(description="first fired, local time (may be an earlier day)")
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    message_id: str
    message_en: str


class NotableReport(BaseModel):
    report_id: str
    occurred_at: datetime = Field(description="local time")
    regency_code: str
    regency_name: str
    kecamatan_name: str | None = None
    category: str
    severity: int = Field(ge=1, le=5)
    excerpt: str


class DailyReport(BaseModel):
    """One local calendar day of one province."""

    date: date
    timezone: str = Field(examples=["Asia/Makassar"])
    starts_at: datetime = Field(description="00:00 local time, inclusive")
    ends_at: datetime = Field(description="24:00 local time (00:00 of the next day), exclusive")
    generated_at: datetime
    province_code: str
    province_name: str
    total_reports: int = Field(ge=0)
    total_incidents: int = Field(ge=0)
    total_check_ins: int = Field(ge=0)
    regencies: list[RegencyCount] = Field(description="every regency/city, also without reports")
    categories: list[CategoryCount] = Field(description="incidents per category, most first")
    level_changes: list[LevelChange] = Field(description="oldest first")
    alerts: list[AlertHandling] = Field(description="fired, acknowledged or resolved that day")
    notable_reports: list[NotableReport] = Field(
        description="incidents by severity (highest first), then time"
    )

    @property
    def alerts_open(self) -> int:
        return sum(1 for alert in self.alerts if alert.state is not AlertState.RESOLVED)


# --- the day --------------------------------------------------------------------------------


def parse_day(value: str | None, zone: ZoneInfo, now: datetime) -> date:
    """``YYYY-MM-DD``; nothing means today in ``zone``. Raises ValueError for anything else."""
    if value is None or not value.strip():
        return now.astimezone(zone).date()
    text = value.strip()
    if not _DAY_PATTERN.match(text):
        raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD")
    return date.fromisoformat(text)  # also ValueError for 2024-02-30


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """00:00 of ``day`` and of the next day in ``zone`` (a day is not always 24 h long)."""
    return (
        datetime.combine(day, time(0), tzinfo=zone),
        datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone),
    )


def _range(start: datetime, end: datetime) -> dict[str, str]:
    return {"gte": start.astimezone(UTC).isoformat(), "lt": end.astimezone(UTC).isoformat()}


# --- request bodies (keyword arguments of Elasticsearch.search) ------------------------------


def reports_request(
    start: datetime, end: datetime, province_code: str, notable: int
) -> dict[str, Any]:
    """Counts per regency (split by kind), incidents per category and the notable incidents,
    in one request: no hits, only aggregations."""
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {
            "bool": {
                "filter": [
                    {"range": {"occurred_at": _range(start, end)}},
                    {"term": {"province": province_code}},
                ]
            }
        },
        "aggs": {
            "regency": {
                "terms": {"field": "district", "size": FACET_SIZES["regency"]},
                "aggs": {"kind": {"terms": {"field": "kind", "size": len(ReportKind)}}},
            },
            "incidents": {
                "filter": {"term": {"kind": ReportKind.INCIDENT.value}},
                "aggs": {
                    "category": {"terms": {"field": "category", "size": FACET_SIZES["category"]}},
                    "notable": {
                        "top_hits": {
                            "size": min(notable, MAX_NOTABLE),
                            "sort": _NOTABLE_SORT,
                            "_source": {"includes": _NOTABLE_FIELDS},
                        }
                    },
                },
            },
        },
    }


def level_changes_request(start: datetime, end: datetime, province_code: str) -> dict[str, Any]:
    """One bucket per change (area, level_changed_at), with the change's first record."""
    return {
        "size": 0,
        "query": {
            "bool": {
                "filter": [
                    {"range": {"level_changed_at": _range(start, end)}},
                    {"term": {"province": province_code}},
                    {"exists": {"field": "previous_level"}},
                ]
            }
        },
        "aggs": {
            "changes": {
                # composite, not multi_terms: that one needs the x-pack analytics module
                "composite": {
                    "size": MAX_LEVEL_CHANGES,
                    "sources": [
                        {"area": {"terms": {"field": "area_code"}}},
                        {"changed": {"terms": {"field": "level_changed_at"}}},
                    ],
                },
                "aggs": {
                    "first": {
                        "top_hits": {
                            "size": 1,
                            "sort": [{"updated_at": "asc"}],
                            "_source": {"includes": _CHANGE_FIELDS},
                        }
                    }
                },
            }
        },
    }


def alerts_request(start: datetime, end: datetime, province_code: str) -> dict[str, Any]:
    """Alerts with something happening within the day: fired, acknowledged or resolved."""
    within = _range(start, end)
    return {
        "size": MAX_ALERTS,
        "query": {
            "bool": {
                "filter": [{"term": {"province": province_code}}],
                "should": [
                    {"range": {field: within}}
                    for field in ("first_fired_at", "acknowledged_at", "resolved_at")
                ],
                "minimum_should_match": 1,
            }
        },
        "sort": [{"first_fired_at": "asc"}, {"alert_id": "asc"}],
    }


# --- responses -> report parts --------------------------------------------------------------


def _buckets(aggregations: Mapping[str, Any], *path: str) -> list[dict[str, Any]]:
    node: Any = aggregations
    for name in path:
        node = node.get(name, {}) if isinstance(node, Mapping) else {}
    found: list[dict[str, Any]] = node.get("buckets", []) if isinstance(node, Mapping) else []
    return found


def _local(value: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(zone)


def regency_counts(
    aggregations: Mapping[str, Any], registry: AreaRegistry, province_code: str
) -> list[RegencyCount]:
    """Every regency of the province (zero when silent: a regency without reports is news),
    plus any other district code found; ordered by code."""
    by_code: dict[str, RegencyCount] = {
        area.code: RegencyCount(code=area.code, name=area.name, reports=0, incidents=0, check_ins=0)
        for area in registry.regencies(province_code)
    }
    for bucket in _buckets(aggregations, "regency"):
        code = str(bucket["key"])
        kinds = {b["key"]: int(b["doc_count"]) for b in _buckets(bucket, "kind")}
        area = registry.get(code)
        by_code[code] = RegencyCount(
            code=code,
            name=area.name if area else code,
            reports=int(bucket["doc_count"]),
            incidents=kinds.get(ReportKind.INCIDENT.value, 0),
            check_ins=kinds.get(ReportKind.CHECK_IN.value, 0),
        )
    return [by_code[code] for code in sorted(by_code)]


def category_counts(aggregations: Mapping[str, Any]) -> list[CategoryCount]:
    """Incidents per category, most first (check-ins carry no meaningful category)."""
    counts = [
        CategoryCount(category=str(b["key"]), incidents=int(b["doc_count"]))
        for b in _buckets(aggregations, "incidents", "category")
    ]
    return sorted(counts, key=lambda c: (-c.incidents, c.category))


def _top_hit_sources(bucket: Mapping[str, Any]) -> list[dict[str, Any]]:
    hits = bucket.get("first", {}).get("hits", {}).get("hits", [])
    return [dict(hit["_source"]) for hit in hits]


def level_changes(
    aggregations: Mapping[str, Any], registry: AreaRegistry, zone: ZoneInfo
) -> list[LevelChange]:
    """Each (area, level_changed_at) once, oldest first."""
    seen: dict[tuple[str, datetime], LevelChange] = {}
    for bucket in _buckets(aggregations, "changes"):
        for source in _top_hit_sources(bucket):
            change = _level_change(source, registry, zone)
            if change is not None:
                seen.setdefault((change.area_code, change.changed_at), change)
    return sorted(seen.values(), key=lambda c: (c.changed_at, c.area_code))


def _level_change(
    source: Mapping[str, Any], registry: AreaRegistry, zone: ZoneInfo
) -> LevelChange | None:
    try:
        code = str(source["area_code"])
        area = registry.get(code)
        return LevelChange(
            area_code=code,
            area_name=source.get("area_name") or (area.name if area else code),
            area_level=str(source.get("area_level", "")),
            from_level=StatusLevel(source["previous_level"]),
            to_level=StatusLevel(source["level"]),
            changed_at=_local(str(source["level_changed_at"]), zone),
            reason=str(source.get("change_reason", "")),
        )
    except (KeyError, ValueError) as exc:  # a document of an older or newer schema
        log.warning("status history document skipped", area=source.get("area_code"), error=exc)
        return None


def alert_handling(hits: Iterable[Mapping[str, Any]], zone: ZoneInfo) -> list[AlertHandling]:
    """How each alert was handled, in the order fired (oldest first)."""
    handled = [
        AlertHandling(
            alert_id=alert.alert_id,
            rule_id=alert.rule_id,
            rule_name=alert.rule_name,
            tier=alert.tier,
            state=alert.state,
            area_code=alert.area_code,
            area_name=alert.area_name or alert.area_code,
            fired_at=alert.first_fired_at.astimezone(zone),
            acknowledged_by=alert.acknowledged_by,
            acknowledged_at=_in_zone(alert.acknowledged_at, zone),
            resolved_at=_in_zone(alert.resolved_at, zone),
            message_id=alert.message_id,
            message_en=alert.message_en,
        )
        for alert in readable_alerts(hits)
    ]
    return sorted(handled, key=lambda a: (a.fired_at, a.alert_id))


def _in_zone(at: datetime | None, zone: ZoneInfo) -> datetime | None:
    return at.astimezone(zone) if at is not None else None


def excerpt(text: str, max_chars: int = EXCERPT_CHARS) -> str:
    """The text on one line, cut at a word boundary with an ellipsis when too long."""
    flat = " ".join(text.split())
    if len(flat) <= max_chars:
        return flat
    cut = flat[: max_chars - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + "…"


def notable_reports(
    sources: Iterable[Mapping[str, Any]], zone: ZoneInfo, limit: int = DEFAULT_NOTABLE
) -> list[NotableReport]:
    """Highest severity first, then the earliest; the first ``limit``."""
    notable = [
        NotableReport(
            report_id=str(source["report_id"]),
            occurred_at=_local(str(source["occurred_at"]), zone),
            regency_code=str(source["district"]),
            regency_name=str(source.get("regency_name") or source["district"]),
            kecamatan_name=source.get("subdistrict_name"),
            category=str(source["category"]),
            severity=int(source["severity"]),
            excerpt=excerpt(str(source.get("text", ""))),
        )
        for source in sources
    ]
    notable.sort(key=lambda r: (-r.severity, r.occurred_at, r.report_id))
    return notable[:limit]


def build_daily_report(
    day: date,
    zone: ZoneInfo,
    province_code: str,
    registry: AreaRegistry,
    *,
    reports_response: Mapping[str, Any],
    changes_response: Mapping[str, Any],
    alerts_response: Mapping[str, Any],
    generated_at: datetime,
    notable: int = DEFAULT_NOTABLE,
) -> DailyReport:
    """The report from the three responses (of the requests above)."""
    start, end = day_bounds(day, zone)
    report_aggs = reports_response.get("aggregations", {})
    regencies = regency_counts(report_aggs, registry, province_code)
    notable_hits = report_aggs.get("incidents", {}).get("notable", {}).get("hits", {})
    return DailyReport(
        date=day,
        timezone=zone.key,
        starts_at=start,
        ends_at=end,
        generated_at=generated_at.astimezone(zone),
        province_code=province_code,
        province_name=registry.require(province_code).name,
        total_reports=int(reports_response.get("hits", {}).get("total", {}).get("value", 0)),
        total_incidents=sum(r.incidents for r in regencies),
        total_check_ins=sum(r.check_ins for r in regencies),
        regencies=regencies,
        categories=category_counts(report_aggs),
        level_changes=level_changes(changes_response.get("aggregations", {}), registry, zone),
        alerts=alert_handling(alerts_response.get("hits", {}).get("hits", []), zone),
        notable_reports=notable_reports(
            (hit["_source"] for hit in notable_hits.get("hits", [])), zone, notable
        ),
    )


# --- running it -----------------------------------------------------------------------------


def fetch_daily_report(
    es: Elasticsearch,
    settings: Settings,
    registry: AreaRegistry,
    day: date,
    *,
    notable: int = DEFAULT_NOTABLE,
    now: datetime | None = None,
) -> DailyReport:
    """Run the three searches for ``day`` and build the report. Raises SearchUnavailable when
    Elasticsearch does not answer; indices that do not exist yet count as empty."""
    names = IndexNames(settings.indexer.index_prefix)
    zone = ZoneInfo(settings.timezone)
    province = settings.province_code
    start, end = day_bounds(day, zone)

    def search(index: str, body: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = call_elasticsearch(
            es.search, index=index, ignore_unavailable=True, allow_no_indices=True, **body
        ).body
        return response

    report = build_daily_report(
        day,
        zone,
        province,
        registry,
        reports_response=search(names.reports, reports_request(start, end, province, notable)),
        changes_response=search(names.status_history, level_changes_request(start, end, province)),
        alerts_response=search(names.alerts, alerts_request(start, end, province)),
        generated_at=now or datetime.now(UTC),
        notable=notable,
    )
    log.info(
        "daily report built",
        day=day.isoformat(),
        reports=report.total_reports,
        level_changes=len(report.level_changes),
        alerts=len(report.alerts),
    )
    return report
