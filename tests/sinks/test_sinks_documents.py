"""Documents, index names, versions and retention selection (no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from schemas.alert import Alert, make_alert_id
from schemas.registry import AreaRegistry
from schemas.status import AreaStatus
from sinks.documents import alert_action, epoch_ms, report_action, status_actions
from sinks.es.names import Family, IndexNames, generation_name, strip_generation
from sinks.es.retention import parse_age, prunable
from sinks.es.templates import index_template, mappings_for

NAMES = IndexNames("sitrep")
NOW = datetime(2024, 2, 14, 1, 2, 3, tzinfo=UTC)


def status(area: str = "64.71", updated: datetime = NOW, level: str = "SIAGA") -> AreaStatus:
    return AreaStatus.model_validate(
        {
            "area_code": area,
            "area_level": "regency" if area.count(".") == 1 else "district",
            "area_name": "Kota Balikpapan",
            "level": level,
            "score": 12.5,
            "counts_by_category": {"clash": 2},
            "counts_by_severity": {"4": 2},
            "open_incidents": 2,
            "level_changed_at": updated.isoformat(),
            "change_reason": "dua bentrokan",
            "updated_at": updated.isoformat(),
        }
    )


def test_report_goes_to_the_utc_month_of_occurred_at(make_report, registry: AreaRegistry) -> None:  # type: ignore[no-untyped-def]
    # 1 March 07:00 WITA is still February in UTC.
    report = make_report(
        occurred_at=datetime(2024, 3, 1, 7, 0, tzinfo=timezone(timedelta(hours=8))),
        subdistrict="64.71.01",
    )
    action = report_action(report, NAMES, registry, NOW)
    assert action.index == "sitrep-reports-2024.02"
    assert action.doc_id == report.report_id
    assert action.version is None
    source = action.source or {}
    assert source["regency_name"] == "Kota Balikpapan"
    assert source["subdistrict_name"]
    assert source["text_stem"].startswith("jadi bentrok")
    assert source["province"] == "64"


def test_every_report_document_field_is_mapped(make_report, registry: AreaRegistry) -> None:  # type: ignore[no-untyped-def]
    report = make_report(village="64.71.01.1001", tps="012", location={"lat": -1.26, "lon": 116.83})
    source = report_action(report, NAMES, registry, NOW).source or {}
    mapped = mappings_for(Family.REPORTS)["properties"]
    assert set(source) <= set(mapped)


def test_status_versions_are_updated_at_in_milliseconds() -> None:
    current, history = status_actions(status(updated=NOW), NAMES, NOW)
    assert current.index == "sitrep-status"
    assert current.doc_id == "64.71"
    assert current.version == epoch_ms(NOW) == 1707872523000
    assert current.header()["index"]["version_type"] == "external"
    assert history.index == "sitrep-status-history-2024.02"
    assert history.doc_id == f"64.71@{epoch_ms(NOW)}"
    assert history.version is None
    assert set(current.source or {}) <= set(mappings_for(Family.STATUS)["properties"])


def test_epoch_ms_is_exact_for_microseconds() -> None:
    at = datetime(2024, 2, 14, 1, 2, 3, 999_999, tzinfo=UTC)
    assert epoch_ms(at) == 1707872523999


def test_alert_is_versioned_by_updated_at() -> None:
    alert = Alert.model_validate(
        {
            "alert_id": make_alert_id("clash-freq", "64.71", "2024-02-14T00:00"),
            "rule_id": "clash-freq",
            "rule_name": "Bentrokan beruntun",
            "rule_type": "frequency",
            "state": "firing",
            "tier": "critical",
            "area_code": "64.71",
            "group_key": "64.71",
            "first_fired_at": NOW.isoformat(),
            "updated_at": NOW.isoformat(),
            "message_id": "Tiga bentrokan dalam satu jam",
            "message_en": "Three clashes within one hour",
        }
    )
    action = alert_action(alert, NAMES, NOW)
    assert (action.index, action.doc_id, action.version) == (
        "sitrep-alerts",
        alert.alert_id,
        epoch_ms(NOW),
    )
    assert set(action.source or {}) <= set(mappings_for(Family.ALERTS)["properties"])


def test_names_and_generations() -> None:
    assert NAMES.patterns(Family.STATUS) == ["sitrep-status", "sitrep-status-r*"]
    assert NAMES.month_of(Family.REPORTS, "sitrep-reports-2023.11") == (2023, 11)
    assert NAMES.month_of(Family.REPORTS, "sitrep-reports-2023.11-r2") == (2023, 11)
    assert NAMES.month_of(Family.REPORTS, "sitrep-status-history-2023.11") is None
    assert NAMES.month_of(Family.STATUS_HISTORY, "sitrep-status-history-2023.11") == (2023, 11)
    assert generation_name("sitrep-status", 2) == "sitrep-status-r2"
    assert generation_name("sitrep-status-r2", 2) == "sitrep-status-r2.1"
    assert generation_name("sitrep-status-r2.1", 2) == "sitrep-status-r2.2"
    assert generation_name("sitrep-status-r1", 2) == "sitrep-status-r2"
    assert strip_generation("sitrep-reports-2024.02-r2.1") == "sitrep-reports-2024.02"


def test_monthly_templates_join_the_read_alias() -> None:
    template = index_template(NAMES, Family.REPORTS)
    assert template["template"]["aliases"] == {"sitrep-reports": {}}
    assert template["index_patterns"] == ["sitrep-reports-*"]
    assert "aliases" not in index_template(NAMES, Family.STATUS)["template"]


def test_prune_takes_only_whole_months_past_the_cutoff() -> None:
    indices = [
        "sitrep-reports-2022.12",
        "sitrep-reports-2023.01-r2",
        "sitrep-reports-2023.02",
        "sitrep-status-history-2022.11",
        "sitrep-status",
        "sitrep-alerts",
        "other-reports-2020.01",
    ]
    now = datetime(2024, 3, 7, tzinfo=UTC)  # minus 400 days = 2023-02-01
    chosen = prunable(indices, NAMES, now, timedelta(days=400))
    assert [c.index for c in chosen] == [
        "sitrep-reports-2022.12",
        "sitrep-reports-2023.01-r2",
        "sitrep-status-history-2022.11",
    ]


@pytest.mark.parametrize(("text", "days"), [("400d", 400), ("8w", 56), ("2y", 730), (" 30D ", 30)])
def test_parse_age(text: str, days: int) -> None:
    assert parse_age(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["400", "0d", "-3d", "1m", "forever"])
def test_parse_age_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_age(text)
