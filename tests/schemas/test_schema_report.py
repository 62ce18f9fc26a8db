"""FieldReport: every wire-format rule of DESIGN.md, error paths and the JSON round trip."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.common import ValidationProblem
from schemas.registry import Area, AreaLevel, AreaRegistry
from schemas.report import (
    Category,
    FieldReport,
    IncidentState,
    ReporterRole,
    ReportKind,
    parse_report,
    report_to_json_bytes,
)

# Signatures of the conftest fixtures ``parse`` and ``problems``.
Parse = Callable[..., FieldReport]
Problems = Callable[..., list[ValidationProblem]]


def paths(found: list[ValidationProblem]) -> list[str]:
    return [problem["path"] for problem in found]


# --- a valid report -------------------------------------------------------------------------


def test_valid_report_parses(parse: Parse, report_data: dict[str, Any]) -> None:
    report = parse(report_data)
    assert report.report_id == "polsek-bpptimur-20240214-0001"
    assert report.kind is ReportKind.INCIDENT
    assert report.category is Category.INTIMIDATION
    assert report.reporter.role is ReporterRole.BHABINKAMTIBMAS
    assert report.occurred_at == datetime(2024, 2, 14, 1, 30, tzinfo=UTC)
    assert report.location is not None and report.location.lat == pytest.approx(-1.2379)


def test_minimal_check_in_parses(parse: Parse, report_data: dict[str, Any]) -> None:
    for optional in ("subdistrict", "village", "tps", "location"):
        del report_data[optional]
    report_data.update(kind="check_in", category="other", severity=1, text="")
    report = parse(report_data)
    assert (report.subdistrict, report.village, report.tps, report.location) == (None,) * 4
    assert report.kind is ReportKind.CHECK_IN


def test_incident_id_defaults_to_report_id(parse: Parse, report_data: dict[str, Any]) -> None:
    report = parse(report_data)
    assert report.incident_id == report.report_id
    assert report.incident_state is IncidentState.OPEN


def test_explicit_incident_fields_are_kept(parse: Parse, report_data: dict[str, Any]) -> None:
    report_data.update(incident_id="inc-42", incident_state="resolved")
    report = parse(report_data)
    assert (report.incident_id, report.incident_state) == ("inc-42", IncidentState.RESOLVED)


def test_report_outside_kaltim(parse: Parse, report_data: dict[str, Any]) -> None:
    report_data.update(district="32.73", subdistrict="32.73.01", village="32.73.01.1001")
    assert parse(report_data).district == "32.73"


def test_python_constructor_validates_too(report_data: dict[str, Any]) -> None:
    report_data["occurred_at"] = datetime(2024, 2, 14, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    assert FieldReport(**report_data).occurred_at.utcoffset() == timedelta(hours=8)
    report_data["district"] = "64.99"
    with pytest.raises(ValidationError):
        FieldReport(**report_data)


def test_report_is_frozen(parse: Parse, report_data: dict[str, Any]) -> None:
    report = parse(report_data)
    with pytest.raises(ValidationError):
        report.severity = 5


# --- areas ----------------------------------------------------------------------------------


def test_unknown_district(problems: Problems, report_data: dict[str, Any]) -> None:
    report_data.update(district="64.99", subdistrict=None, village=None)
    [problem] = problems(report_data)
    assert problem["path"] == "district"
    assert problem["type"] == "unknown_area"
    assert "'64.99'" in problem["message"]


@pytest.mark.parametrize("code", ["64", "64.71.01", "6471", ""])
def test_district_must_be_a_regency_code(
    problems: Problems, report_data: dict[str, Any], code: str
) -> None:
    report_data.update(district=code, subdistrict=None, village=None)
    assert paths(problems(report_data)) == ["district"]


def test_subdistrict_of_another_regency(problems: Problems, report_data: dict[str, Any]) -> None:
    report_data.update(subdistrict="64.72.01", village=None)  # Palaran, Kota Samarinda
    [problem] = problems(report_data)
    assert problem["path"] == "subdistrict"
    assert problem["type"] == "area_outside_parent"
    assert "64.72.01" in problem["message"] and "64.71" in problem["message"]


def test_unknown_subdistrict(problems: Problems, report_data: dict[str, Any]) -> None:
    report_data.update(subdistrict="64.71.99", village=None)
    assert paths(problems(report_data)) == ["subdistrict"]


def test_village_not_in_subdistrict(problems: Problems, report_data: dict[str, Any]) -> None:
    report_data.update(village="64.71.02.1001")  # Baru Ilir, kecamatan Balikpapan Barat
    [problem] = problems(report_data)
    assert problem["path"] == "village"
    assert "64.71.01" in problem["message"]


def test_unknown_village(problems: Problems, report_data: dict[str, Any]) -> None:
    report_data.update(village="64.71.01.9999")
    assert paths(problems(report_data)) == ["village"]


def test_village_without_subdistrict_fills_it(parse: Parse, report_data: dict[str, Any]) -> None:
    del report_data["subdistrict"]
    report = parse(report_data)
    assert report.subdistrict == "64.71.01"
    assert b'"subdistrict":"64.71.01"' in report_to_json_bytes(report)


def test_village_without_subdistrict_must_be_in_district(
    problems: Problems, report_data: dict[str, Any]
) -> None:
    del report_data["subdistrict"]
    report_data["village"] = "64.72.01.1001"  # Samarinda
    [problem] = problems(report_data)
    assert problem["path"] == "village"
    assert "64.71 (Kota Balikpapan)" in problem["message"]


def test_registry_comes_from_validation_context(report_data: dict[str, Any]) -> None:
    test_registry = AreaRegistry(
        [
            Area("99", "Provinsi Uji", AreaLevel.PROVINCE, None),
            Area("99.01", "Kota Uji", AreaLevel.REGENCY, "99"),
        ]
    )
    report_data.update(district="99.01", subdistrict=None, village=None)
    raw = json.dumps(report_data)
    report = FieldReport.model_validate_json(raw, context={"registry": test_registry})
    assert report.district == "99.01"
    with pytest.raises(ValidationError, match=r"99\.01"):
        parse_report(raw)  # the shipped registry has no province 99
    report_data["district"] = "64.71"
    with pytest.raises(ValidationError, match=r"64\.71"):
        parse_report(json.dumps(report_data), test_registry)


def test_wrong_registry_in_context_is_a_programming_error(report_data: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="AreaRegistry"):
        FieldReport.model_validate(report_data, context={"registry": {"64.71": "x"}})


# --- times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("occurred_at", "accepted"),
    [
        ("2024-02-14T09:35:10+08:00", True),  # 4 min after received_at
        ("2024-02-14T09:36:10+08:00", True),  # exactly 5 min
        ("2024-02-14T09:36:11+08:00", False),
        ("2024-02-14T09:37:10+08:00", False),  # 6 min
        ("2024-02-14T02:37:10+01:00", False),  # 6 min, in another offset
        ("2024-02-10T09:00:00+08:00", True),  # days late is fine
    ],
)
def test_occurred_at_at_most_5_minutes_after_received_at(
    report_data: dict[str, Any], occurred_at: str, accepted: bool
) -> None:
    report_data["occurred_at"] = occurred_at
    raw = json.dumps(report_data)
    if accepted:
        parse_report(raw)
        return
    with pytest.raises(ValidationError) as caught:
        parse_report(raw)
    [error] = caught.value.errors()
    assert error["loc"] == ("occurred_at",)
    assert error["type"] == "occurred_in_future"
    assert "5 minutes after received_at" in error["msg"]


def test_future_rule_ignores_the_wall_clock(parse: Parse, report_data: dict[str, Any]) -> None:
    # Replay safety: only received_at counts, so far-future (or far-past) pairs validate.
    report_data.update(
        occurred_at="2099-01-01T00:04:00+07:00", received_at="2099-01-01T00:00:00+07:00"
    )
    assert parse(report_data).occurred_at.year == 2099


@pytest.mark.parametrize("field", ["occurred_at", "received_at"])
def test_naive_time_rejected(problems: Problems, report_data: dict[str, Any], field: str) -> None:
    report_data[field] = "2024-02-14T09:30:00"
    [problem] = problems(report_data)
    assert problem["path"] == field
    assert problem["type"] == "timezone_required"
    assert "UTC offset" in problem["message"]


@pytest.mark.parametrize("value", [1707874200, "14/02/2024 09:30", "2024-02-14", None])
def test_non_rfc3339_time_rejected(
    problems: Problems, report_data: dict[str, Any], value: Any
) -> None:
    report_data["occurred_at"] = value
    assert paths(problems(report_data)) == ["occurred_at"]


def test_utc_z_accepted_and_offset_kept(parse: Parse, report_data: dict[str, Any]) -> None:
    report_data["received_at"] = "2024-02-14T01:31:10Z"
    report = parse(report_data)
    assert report.received_at.utcoffset() == timedelta(0)
    assert report.occurred_at.utcoffset() == timedelta(hours=8)
    assert b'"occurred_at":"2024-02-14T09:30:00+08:00"' in report_to_json_bytes(report)


# --- scalar fields --------------------------------------------------------------------------


@pytest.mark.parametrize("severity", [0, 6, -1, "3", 2.5, True])
def test_bad_severity(problems: Problems, report_data: dict[str, Any], severity: Any) -> None:
    report_data["severity"] = severity
    assert paths(problems(report_data)) == ["severity"]


@pytest.mark.parametrize("severity", [1, 5])
def test_severity_bounds_accepted(parse: Parse, report_data: dict[str, Any], severity: int) -> None:
    report_data["severity"] = severity
    assert parse(report_data).severity == severity


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("kind",), "alarm"),
        (("category",), "terrorism"),
        (("category",), "Clash"),
        (("source",), "email"),
        (("phase",), "election_day"),
        (("incident_state",), "closed"),
        (("reporter", "role"), "chief"),
    ],
)
def test_bad_enum_values(
    problems: Problems, report_data: dict[str, Any], path: tuple[str, ...], value: str
) -> None:
    target = report_data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    [problem] = problems(report_data)
    assert problem["path"] == ".".join(path)
    assert problem["type"] == "enum"


@pytest.mark.parametrize(
    ("location", "bad_path"),
    [
        ({"lat": 90.5, "lon": 116.0}, "location.lat"),
        ({"lat": -91, "lon": 116.0}, "location.lat"),
        ({"lat": -1.2, "lon": 180.1}, "location.lon"),
        ({"lat": -1.2, "lon": -181}, "location.lon"),
        ({"lat": "-1.2", "lon": 116.0}, "location.lat"),
        ({"lat": -1.2}, "location.lon"),
        ({"lat": -1.2, "lon": 116.0, "alt": 3}, "location.alt"),
        ([-1.2, 116.0], "location"),
    ],
)
def test_bad_coordinates(
    problems: Problems, report_data: dict[str, Any], location: Any, bad_path: str
) -> None:
    report_data["location"] = location
    assert paths(problems(report_data)) == [bad_path]


def test_coordinate_bounds_accepted(parse: Parse, report_data: dict[str, Any]) -> None:
    report_data["location"] = {"lat": -90, "lon": 180}
    assert parse(report_data).location is not None


@pytest.mark.parametrize(
    "report_id", ["", " ", "a b", "a/b", ".hidden", "-x", "x" * 129, "id#1", "ü"]
)
def test_bad_report_id(problems: Problems, report_data: dict[str, Any], report_id: str) -> None:
    report_data["report_id"] = report_id
    # Reported once: the defaulted incident_id does not repeat the problem.
    assert paths(problems(report_data)) == ["report_id"]


@pytest.mark.parametrize("report_id", ["a", "x" * 128, "app:64.71:2024-02-14T09:30:00Z_0001"])
def test_good_report_id(parse: Parse, report_data: dict[str, Any], report_id: str) -> None:
    report_data["report_id"] = report_id
    assert parse(report_data).report_id == report_id


@pytest.mark.parametrize("tps", ["TPS 12", "", "12/3", "1" * 17])
def test_bad_tps(problems: Problems, report_data: dict[str, Any], tps: str) -> None:
    report_data["tps"] = tps
    assert paths(problems(report_data)) == ["tps"]


def test_text_length_limit(parse: Parse, problems: Problems, report_data: dict[str, Any]) -> None:
    report_data["text"] = "a" * 10_000
    parse(report_data)
    report_data["text"] = "a" * 10_001
    assert paths(problems(report_data)) == ["text"]


@pytest.mark.parametrize("unit", ["", "   "])
def test_blank_reporter_unit(problems: Problems, report_data: dict[str, Any], unit: str) -> None:
    report_data["reporter"]["unit"] = unit
    assert paths(problems(report_data)) == ["reporter.unit"]


# --- shape ----------------------------------------------------------------------------------


def test_extra_field_rejected(problems: Problems, report_data: dict[str, Any]) -> None:
    report_data["priority"] = "high"
    report_data["reporter"]["name"] = "Bripka X"
    found = problems(report_data)
    assert sorted(paths(found)) == ["priority", "reporter.name"]
    assert {p["type"] for p in found} == {"extra_forbidden"}


REQUIRED = [
    "report_id",
    "occurred_at",
    "received_at",
    "district",
    "kind",
    "category",
    "severity",
    "reporter",
    "source",
    "phase",
    "text",
    "schema_version",
]


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_required_field(
    problems: Problems, report_data: dict[str, Any], field: str
) -> None:
    del report_data[field]
    found = problems(report_data)
    assert {"path": field, "message": "Field required", "type": "missing"} in found


def test_missing_nested_field(problems: Problems, report_data: dict[str, Any]) -> None:
    del report_data["reporter"]["role"]
    assert paths(problems(report_data)) == ["reporter.role"]


def test_all_errors_reported_at_once(problems: Problems, report_data: dict[str, Any]) -> None:
    report_data.update(severity=9, kind="x", district="64.99")
    report_data["reporter"]["role"] = "x"
    assert sorted(paths(problems(report_data))) == [
        "district",
        "kind",
        "reporter.role",
        "severity",
    ]


def test_newer_schema_version_rejected_with_one_clear_error(
    problems: Problems, report_data: dict[str, Any]
) -> None:
    report_data.update(schema_version=2, field_from_the_future=True)
    [problem] = problems(report_data)
    assert problem["path"] == "schema_version"
    assert problem["type"] == "schema_version_unsupported"
    assert "newer" in problem["message"] and "2" in problem["message"]


@pytest.mark.parametrize("version", [0, "1", 1.0, None])
def test_bad_schema_version(problems: Problems, report_data: dict[str, Any], version: Any) -> None:
    report_data["schema_version"] = version
    assert paths(problems(report_data)) == ["schema_version"]


@pytest.mark.parametrize(
    ("raw", "error_type"),
    [(b"{not json", "json_invalid"), (b"[1, 2]", "model_type"), (b"\xff\xfe", "json_invalid")],
)
def test_undecodable_input_is_a_document_error(raw: bytes, error_type: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_report(raw)
    [error] = caught.value.errors()
    assert (error["loc"], error["type"]) == ((), error_type)


# --- JSON round trip ------------------------------------------------------------------------


def test_json_round_trip(parse: Parse, report_data: dict[str, Any]) -> None:
    report_data["occurred_at"] = "2024-02-14T09:30:00.123456+08:00"
    report = parse(report_data)
    raw = report_to_json_bytes(report)
    again = parse_report(raw)
    assert again == report
    assert report_to_json_bytes(again) == raw


def test_json_is_compact_and_omits_absent_fields(parse: Parse, report_data: dict[str, Any]) -> None:
    del report_data["tps"]
    raw = report_to_json_bytes(parse(report_data))
    assert b": " not in raw and b", " not in raw and b"\n" not in raw
    decoded = json.loads(raw)
    assert "tps" not in decoded
    assert decoded["incident_id"] == report_data["report_id"]


def test_round_trip_keeps_non_ascii_text(parse: Parse, report_data: dict[str, Any]) -> None:
    report_data["text"] = 'Massa ±200 orang — "ricuh" di depan kantor KPU 🚨'
    report = parse(report_data)
    assert parse_report(report_to_json_bytes(report)).text == report_data["text"]
