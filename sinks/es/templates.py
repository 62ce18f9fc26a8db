"""Composable, versioned index templates for every ``<prefix>-`` index.

A mapping change means: edit the mapping here, bump ``TEMPLATE_VERSION``, run
``sitrep es setup`` (new indices get the new mapping) and ``sitrep es reindex`` (existing
indices are rebuilt; see docs/search.md). Every index records the version it was created with in
its mapping ``_meta``, so setup can tell which indices are out of date.
"""

from __future__ import annotations

from typing import Any, Final

from schemas.report import Category
from sinks.es.names import Family, IndexNames
from sinks.settings import IndexerSettings

TEMPLATE_VERSION: Final = 2  # 2: alert change, routes, measurement, window, area name
MANAGED_BY: Final = "sitrep"

# Text fields: ``text`` goes through the engine's Lucene Indonesian analyzer; ``text_stem`` holds
# the same text stemmed in Python (sinks.text), which knows forms the Lucene stemmer gets wrong
# ("bentrokan" -> "bentrok"), and is only lowercased, tokenized and stop-worded here.
ANALYSIS: Final[dict[str, Any]] = {
    "analyzer": {
        "sitrep_prestemmed": {
            "type": "custom",
            "tokenizer": "standard",
            "filter": ["lowercase", "sitrep_indonesian_stop"],
        }
    },
    "filter": {"sitrep_indonesian_stop": {"type": "stop", "stopwords": "_indonesian_"}},
    "normalizer": {
        "sitrep_folded": {"type": "custom", "filter": ["lowercase", "asciifolding"]},
    },
}

_KEYWORD: Final = {"type": "keyword"}
_DATE: Final = {"type": "date"}
# Exact keyword plus a case- and accent-insensitive twin for filters typed by people.
_FOLDED_KEYWORD: Final = {
    "type": "keyword",
    "fields": {"folded": {"type": "keyword", "normalizer": "sitrep_folded"}},
}
_NAME: Final = _FOLDED_KEYWORD
_INDONESIAN_TEXT: Final = {"type": "text", "analyzer": "indonesian"}


def _meta(family: Family) -> dict[str, Any]:
    return {"managed_by": MANAGED_BY, "family": family.value, "template_version": TEMPLATE_VERSION}


def report_mappings() -> dict[str, Any]:
    return {
        "dynamic": "strict",
        "_meta": _meta(Family.REPORTS),
        "properties": {
            "report_id": _KEYWORD,
            "occurred_at": _DATE,
            "received_at": _DATE,
            "indexed_at": _DATE,
            "province": _KEYWORD,
            "district": _KEYWORD,
            "subdistrict": _KEYWORD,
            "village": _KEYWORD,
            "regency_name": _NAME,
            "subdistrict_name": _NAME,
            "village_name": _NAME,
            "tps": _KEYWORD,
            "location": {"type": "geo_point"},
            "kind": _KEYWORD,
            "category": _KEYWORD,
            "severity": {"type": "byte"},
            "incident_id": _KEYWORD,
            "incident_state": _KEYWORD,
            "reporter": {
                "dynamic": "strict",
                "properties": {"unit": _FOLDED_KEYWORD, "role": _KEYWORD},
            },
            "source": _KEYWORD,
            "phase": _KEYWORD,
            "text": _INDONESIAN_TEXT,
            "text_stem": {"type": "text", "analyzer": "sitrep_prestemmed"},
            "schema_version": {"type": "short"},
        },
    }


def _status_properties() -> dict[str, Any]:
    counts_by_category = {c.value: {"type": "integer"} for c in Category}
    counts_by_severity = {str(s): {"type": "integer"} for s in range(1, 6)}
    return {
        "area_code": _KEYWORD,
        "area_level": _KEYWORD,
        "area_name": _NAME,
        "province": _KEYWORD,
        "parent_code": _KEYWORD,
        "level": _KEYWORD,
        "level_rank": {"type": "byte"},
        "previous_level": _KEYWORD,
        "score": {"type": "float"},
        # dynamic false: a category added to the schema later is kept in _source, not rejected.
        "counts_by_category": {"dynamic": False, "properties": counts_by_category},
        "counts_by_severity": {"dynamic": False, "properties": counts_by_severity},
        "open_incidents": {"type": "integer"},
        "last_report_at": _DATE,
        "last_check_in_at": _DATE,
        "top_reports": {
            "dynamic": "strict",
            "properties": {"report_id": _KEYWORD, "contribution": {"type": "float"}},
        },
        "level_changed_at": _DATE,
        "change_reason": _INDONESIAN_TEXT,
        "updated_at": _DATE,
        "indexed_at": _DATE,
        "schema_version": {"type": "short"},
    }


def status_mappings(family: Family) -> dict[str, Any]:
    return {"dynamic": "strict", "_meta": _meta(family), "properties": _status_properties()}


def alert_mappings() -> dict[str, Any]:
    return {
        "dynamic": "strict",
        "_meta": _meta(Family.ALERTS),
        "properties": {
            "alert_id": _KEYWORD,
            "rule_id": _KEYWORD,
            "rule_name": {"type": "text", "fields": {"raw": _KEYWORD}},
            "rule_type": _KEYWORD,
            "state": _KEYWORD,
            "tier": _KEYWORD,
            "area_code": _KEYWORD,
            "province": _KEYWORD,
            "group_key": _KEYWORD,
            "first_fired_at": _DATE,
            "updated_at": _DATE,
            "late": {"type": "boolean"},
            "message_id": _INDONESIAN_TEXT,
            "message_en": {"type": "text", "analyzer": "standard"},
            "evidence_report_ids": _KEYWORD,
            "change": _KEYWORD,
            "area_name": {"type": "text", "fields": {"raw": _KEYWORD}},
            "value": {"type": "double"},
            "threshold": {"type": "double"},
            "window_start": _DATE,
            "window_end": _DATE,
            "routes": {
                "properties": {"channel": _KEYWORD, "recipients": _KEYWORD},
            },
            "acknowledged_by": _KEYWORD,
            "acknowledged_at": _DATE,
            "resolved_at": _DATE,
            "indexed_at": _DATE,
            "schema_version": {"type": "short"},
        },
    }


def mappings_for(family: Family) -> dict[str, Any]:
    if family is Family.REPORTS:
        return report_mappings()
    if family is Family.ALERTS:
        return alert_mappings()
    return status_mappings(family)


def component_template(settings: IndexerSettings) -> dict[str, Any]:
    """Settings shared by every sitrep index: shards, replicas, refresh, analysis."""
    return {
        "version": TEMPLATE_VERSION,
        "_meta": {"managed_by": MANAGED_BY},
        "template": {
            "settings": {
                "index": {
                    "number_of_shards": settings.shards,
                    "number_of_replicas": settings.replicas,
                    "refresh_interval": settings.refresh_interval,
                },
                "analysis": ANALYSIS,
            }
        },
    }


def index_template(names: IndexNames, family: Family) -> dict[str, Any]:
    """Composable template of one family; monthly families join their read alias on creation."""
    template: dict[str, Any] = {"mappings": mappings_for(family)}
    if family.monthly:
        template["aliases"] = {names.base(family): {}}
    return {
        "index_patterns": names.patterns(family),
        "composed_of": [names.component_template],
        # Above the built-in templates (priority 100 for logs-*-*, metrics-*-*, ...).
        "priority": 200,
        "version": TEMPLATE_VERSION,
        "_meta": _meta(family),
        "template": template,
    }


def template_aliases(names: IndexNames, family: Family) -> list[str]:
    return [names.base(family)] if family.monthly else []
