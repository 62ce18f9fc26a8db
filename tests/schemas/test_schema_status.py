"""AreaStatus and the status level scale."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.status import RANKED_LEVELS, AreaStatus, StatusLevel


@pytest.fixture
def status_data() -> dict[str, Any]:
    return {
        "area_code": "64.71",
        "area_level": "regency",
        "area_name": "Kota Balikpapan",
        "level": "SIAGA",
        "previous_level": "WASPADA",
        "score": 12.5,
        "counts_by_category": {"clash": 2, "intimidation": 1},
        "counts_by_severity": {"3": 1, "4": 2},
        "open_incidents": 3,
        "last_report_at": "2024-02-14T09:30:00+08:00",
        "last_check_in_at": "2024-02-14T09:00:00+08:00",
        "top_reports": [{"report_id": "r-1", "contribution": 8.0}],
        "level_changed_at": "2024-02-14T09:31:00+08:00",
        "change_reason": "score 12.5 >= SIAGA threshold 10 (2 clash reports, severity 4)",
        "updated_at": "2024-02-14T09:31:00+08:00",
        "schema_version": 1,
    }


def error_paths(data: dict[str, Any]) -> list[tuple[int | str, ...]]:
    with pytest.raises(ValidationError) as caught:
        AreaStatus.model_validate_json(json.dumps(data))
    return [error["loc"] for error in caught.value.errors()]


def test_levels_are_ranked_low_to_high() -> None:
    assert [level.value for level in RANKED_LEVELS] == ["AMAN", "WASPADA", "SIAGA", "AWAS"]
    assert [level.rank for level in RANKED_LEVELS] == [0, 1, 2, 3]
    assert StatusLevel.AWAS.rank > StatusLevel.AMAN.rank  # type: ignore[operator]


def test_no_contact_is_off_the_scale() -> None:
    assert StatusLevel("TIDAK ADA KABAR") is StatusLevel.TIDAK_ADA_KABAR
    assert StatusLevel.TIDAK_ADA_KABAR.rank is None
    assert StatusLevel.TIDAK_ADA_KABAR not in RANKED_LEVELS


def test_valid_status_round_trips(status_data: dict[str, Any]) -> None:
    status = AreaStatus.model_validate_json(json.dumps(status_data))
    assert status.level is StatusLevel.SIAGA
    assert status.counts_by_severity == {"3": 1, "4": 2}
    raw = status.model_dump_json()
    assert AreaStatus.model_validate_json(raw) == status
    assert json.loads(raw)["level"] == "SIAGA"


def test_minimal_status_uses_defaults(status_data: dict[str, Any]) -> None:
    for key in (
        "previous_level",
        "counts_by_category",
        "counts_by_severity",
        "open_incidents",
        "last_report_at",
        "last_check_in_at",
        "top_reports",
        "schema_version",
    ):
        del status_data[key]
    status_data.update(level="TIDAK ADA KABAR", area_code="64.71.01", area_level="district")
    status = AreaStatus.model_validate(status_data)
    assert (status.open_incidents, status.top_reports, status.schema_version) == (0, (), 1)


@pytest.mark.parametrize(
    ("changes", "bad_path"),
    [
        ({"area_level": "village", "area_code": "64.71.01.1001"}, ("area_level",)),
        ({"area_level": "district"}, ("area_code",)),  # 64.71 is not a kecamatan code
        ({"level": "BAHAYA"}, ("level",)),
        ({"score": -0.1}, ("score",)),
        ({"counts_by_severity": {"6": 1}}, ("counts_by_severity", "6", "[key]")),
        ({"counts_by_category": {"clash": -1}}, ("counts_by_category", "clash")),
        ({"counts_by_category": {"war": 1}}, ("counts_by_category", "war", "[key]")),
        ({"open_incidents": -1}, ("open_incidents",)),
        ({"updated_at": "2024-02-14T09:31:00"}, ("updated_at",)),
        (
            {"top_reports": [{"report_id": "r 1", "contribution": 1}]},
            ("top_reports", 0, "report_id"),
        ),
        ({"schema_version": 2, "new_field": 1}, ("schema_version",)),
        ({"extra": 1}, ("extra",)),
    ],
)
def test_invalid_status(
    status_data: dict[str, Any], changes: dict[str, Any], bad_path: tuple[Any, ...]
) -> None:
    status_data.update(changes)
    assert error_paths(status_data) == [bad_path]
