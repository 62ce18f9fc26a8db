"""Alert model and deterministic alert ids."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.alert import Alert, AlertState, AlertTier, make_alert_id
from schemas.common import is_identifier


def test_alert_id_is_deterministic() -> None:
    first = make_alert_id("freq-clash", "64.71", "2024-02-14T09:00:00+08:00")
    assert first == make_alert_id("freq-clash", "64.71", "2024-02-14T09:00:00+08:00")


def test_alert_id_is_readable_and_a_valid_identifier() -> None:
    alert_id = make_alert_id("Frequency: Clash/Riot", "64.71", "2024-02-14T09:00:00+08:00")
    assert alert_id.startswith("alert-frequency-clash-riot-")
    assert len(alert_id.rsplit("-", 1)[1]) == 24
    assert is_identifier(alert_id)
    assert is_identifier(make_alert_id("r" * 500, "g", "e"))


@pytest.mark.parametrize(
    "other",
    [
        ("freq-clash", "64.72", "2024-02-14T09:00:00+08:00"),
        ("freq-riot", "64.71", "2024-02-14T09:00:00+08:00"),
        ("freq-clash", "64.71", "2024-02-14T09:05:00+08:00"),
        ("freq-clash", "64.71|2024-02-14T09:00:00+08:00", "x"),  # no ambiguous joining
    ],
)
def test_alert_id_differs_for_different_inputs(other: tuple[str, str, str]) -> None:
    assert make_alert_id("freq-clash", "64.71", "2024-02-14T09:00:00+08:00") != make_alert_id(
        *other
    )


def test_alert_id_parts_are_not_ambiguous() -> None:
    assert make_alert_id("r", "a|b", "c") != make_alert_id("r", "a", "b|c")


@pytest.mark.parametrize("args", [("", "g", "e"), ("r", "", "e"), ("r", "g", "")])
def test_alert_id_needs_every_part(args: tuple[str, str, str]) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        make_alert_id(*args)


@pytest.fixture
def alert_data() -> dict[str, Any]:
    return {
        "alert_id": make_alert_id("freq-clash", "64.71", "2024-02-14T09:00:00+08:00"),
        "rule_id": "freq-clash",
        "rule_name": "Bentrok berulang / repeated clashes",
        "rule_type": "frequency",
        "state": "firing",
        "tier": "critical",
        "area_code": "64.71",
        "group_key": "64.71",
        "first_fired_at": "2024-02-14T09:31:00+08:00",
        "updated_at": "2024-02-14T09:31:00+08:00",
        "message_id": "3 laporan bentrok dalam 30 menit di Kota Balikpapan",
        "message_en": "3 clash reports within 30 minutes in Kota Balikpapan",
        "evidence_report_ids": ["r-1", "r-2", "r-3"],
    }


def error_paths(data: dict[str, Any]) -> list[tuple[int | str, ...]]:
    with pytest.raises(ValidationError) as caught:
        Alert.model_validate_json(json.dumps(data))
    return sorted(error["loc"] for error in caught.value.errors())


def test_valid_alert_round_trips(alert_data: dict[str, Any]) -> None:
    alert = Alert.model_validate_json(json.dumps(alert_data))
    assert (alert.state, alert.tier, alert.late) == (AlertState.FIRING, AlertTier.CRITICAL, False)
    assert alert.evidence_report_ids == ("r-1", "r-2", "r-3")
    assert Alert.model_validate_json(alert.model_dump_json()) == alert


def test_acknowledged_and_resolved_alerts(alert_data: dict[str, Any]) -> None:
    alert_data.update(
        state="acknowledged",
        acknowledged_by="Kabag Ops Polres Balikpapan",
        acknowledged_at="2024-02-14T09:35:00+08:00",
    )
    acknowledged = Alert.model_validate(alert_data)
    resolved = acknowledged.model_copy(update={"state": AlertState.RESOLVED})
    assert (
        Alert.model_validate(
            {**resolved.model_dump(), "resolved_at": "2024-02-14T10:00:00+08:00"}
        ).state
        is AlertState.RESOLVED
    )


@pytest.mark.parametrize(
    ("changes", "bad_paths"),
    [
        ({"state": "resolved"}, [("resolved_at",)]),
        ({"resolved_at": "2024-02-14T10:00:00+08:00"}, [("resolved_at",)]),
        ({"state": "acknowledged"}, [("acknowledged_at",), ("acknowledged_by",)]),
        ({"acknowledged_by": "Kabag Ops"}, [("acknowledged_at",)]),
        ({"updated_at": "2024-02-14T09:00:00+08:00"}, [("updated_at",)]),
        ({"state": "muted"}, [("state",)]),
        ({"tier": "info"}, [("tier",)]),
        ({"area_code": "Balikpapan"}, [("area_code",)]),
        ({"rule_type": "Frequency Rule"}, [("rule_type",)]),
        ({"evidence_report_ids": ["ok", "not ok"]}, [("evidence_report_ids", 1)]),
        ({"late": "yes"}, [("late",)]),
        ({"message_id": ""}, [("message_id",)]),
        ({"first_fired_at": "2024-02-14 09:31"}, [("first_fired_at",)]),
        ({"schema_version": 3}, [("schema_version",)]),
    ],
)
def test_invalid_alert(
    alert_data: dict[str, Any], changes: dict[str, Any], bad_paths: list[tuple[Any, ...]]
) -> None:
    alert_data.update(changes)
    assert error_paths(alert_data) == bad_paths
