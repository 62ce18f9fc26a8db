"""Turning raw input into reports or rejections: JSON, CSV flattening, defaults, fingerprints."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from producers.records import (
    Defaults,
    Outbound,
    Rejection,
    content_fingerprint,
    file_defaults,
    parse_csv_row,
    parse_json_line,
    unflatten_row,
)
from schemas.deadletter import Reason, Stage
from schemas.registry import AreaRegistry
from schemas.report import FieldReport, ReportSource, report_to_json_bytes

MakeReport = Callable[..., dict[str, Any]]
NO_DEFAULTS = Defaults()


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_valid_line_becomes_a_report(registry: AreaRegistry, make_report: MakeReport) -> None:
    result = parse_json_line(encode(make_report("r-1")), registry, NO_DEFAULTS)
    assert isinstance(result, FieldReport)
    assert result.report_id == "r-1"
    outbound = Outbound.of(result)
    assert (outbound.district, outbound.value) == ("64.71", report_to_json_bytes(result))


def test_broken_json_is_rejected_as_invalid_json(registry: AreaRegistry) -> None:
    result = parse_json_line(b'{"report_id": "r-1",', registry, NO_DEFAULTS, line=7)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.INVALID_JSON
    assert result.line == 7
    assert result.problems[0]["path"] == ""
    assert "not valid JSON" in result.problems[0]["message"]


def test_a_json_array_is_not_a_report(registry: AreaRegistry) -> None:
    result = parse_json_line(b"[1, 2]", registry, NO_DEFAULTS)
    assert isinstance(result, Rejection) and result.reason is Reason.INVALID_JSON
    assert "got list" in result.problems[0]["message"]


def test_every_field_error_is_reported_with_its_path(
    registry: AreaRegistry, make_report: MakeReport
) -> None:
    document = make_report("r-2", severity=9, kind="rumour")
    document["reporter"] = {"unit": "Polsek X", "role": "astronaut"}
    del document["category"]
    result = parse_json_line(encode(document), registry, NO_DEFAULTS, line=3)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.VALIDATION_FAILED
    paths = {problem["path"] for problem in result.problems}
    assert paths == {"severity", "kind", "reporter.role", "category"}
    # The identity is kept for the dead-letter record even though the report is invalid.
    assert (result.report_id, result.district, result.line) == ("r-2", "64.71", 3)


def test_unknown_regency_and_kecamatan_outside_it(
    registry: AreaRegistry, make_report: MakeReport
) -> None:
    unknown = parse_json_line(encode(make_report(district="64.99")), registry, NO_DEFAULTS)
    assert isinstance(unknown, Rejection)
    assert any(p["path"] == "district" for p in unknown.problems)
    outside = parse_json_line(encode(make_report(subdistrict="64.72.01")), registry, NO_DEFAULTS)
    assert isinstance(outside, Rejection)
    assert [p["path"] for p in outside.problems] == ["subdistrict"]


def test_occurred_more_than_five_minutes_after_received_is_rejected(
    registry: AreaRegistry, make_report: MakeReport
) -> None:
    document = make_report(
        occurred_at="2024-11-27T10:06:00+08:00", received_at="2024-11-27T10:00:00+08:00"
    )
    result = parse_json_line(encode(document), registry, NO_DEFAULTS)
    assert isinstance(result, Rejection)
    assert [p["type"] for p in result.problems] == ["occurred_in_future"]


def test_defaults_fill_only_what_is_missing(
    registry: AreaRegistry, make_report: MakeReport
) -> None:
    received = datetime(2024, 11, 27, 3, 0, tzinfo=UTC)
    defaults = file_defaults(received)
    document = make_report(occurred_at="2024-11-27T10:58:00+08:00")
    for field in ("received_at", "source", "schema_version"):
        del document[field]
    filled = parse_json_line(encode(document), registry, defaults)
    assert isinstance(filled, FieldReport)
    assert filled.received_at == received
    assert filled.source is ReportSource.FILE
    kept = parse_json_line(encode(make_report(source="radio")), registry, defaults)
    assert isinstance(kept, FieldReport) and kept.source is ReportSource.RADIO


def test_rejection_becomes_a_dead_letter_with_line_and_errors(registry: AreaRegistry) -> None:
    rejection = parse_json_line(
        b'{"report_id": "r-9", "district": "64.71"}', registry, NO_DEFAULTS, line=12
    )
    assert isinstance(rejection, Rejection)
    at = datetime(2024, 11, 27, tzinfo=UTC)
    record = rejection.dead_letter(stage=Stage.PRODUCE, source="file:a.jsonl", at=at)
    assert record.line == 12
    assert record.report_id == "r-9" and record.district == "64.71"
    assert record.reason is Reason.VALIDATION_FAILED
    assert len(record.errors) == len(rejection.problems) > 3
    assert record.raw_text == '{"report_id": "r-9", "district": "64.71"}'


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_row_is_unflattened_into_nested_fields() -> None:
    row: dict[str | None, str | None] = {
        "report_id": "c-1",
        "location.lat": "-1.2379",
        "location.lon": "116.8529",
        "reporter.unit": "Polsek Balikpapan Timur",
        "reporter.role": "patrol",
        "severity": "3",
        "tps": "",
    }
    assert unflatten_row(row) == {
        "report_id": "c-1",
        "location": {"lat": -1.2379, "lon": 116.8529},
        "reporter": {"unit": "Polsek Balikpapan Timur", "role": "patrol"},
        "severity": 3,
    }


def test_csv_number_that_is_not_a_number_names_its_column() -> None:
    problems = unflatten_row({"severity": "tinggi", "location.lat": "utara"})
    assert isinstance(problems, list)
    assert {p["path"] for p in problems} == {"severity", "location.lat"}
    assert any("'tinggi' is not a whole number" in p["message"] for p in problems)


def test_csv_row_validates_like_json(registry: AreaRegistry, make_report: MakeReport) -> None:
    document = make_report("c-2")
    row: dict[str | None, str | None] = {
        key: str(value) for key, value in document.items() if not isinstance(value, dict)
    }
    row.update({"reporter.unit": "Polsek Balikpapan Timur", "reporter.role": "patrol"})
    result = parse_csv_row(row, b"raw", registry, NO_DEFAULTS, line=2)
    assert isinstance(result, FieldReport)
    assert result == parse_json_line(encode(document), registry, NO_DEFAULTS)


def test_csv_row_with_extra_cells_is_rejected(registry: AreaRegistry) -> None:
    result = parse_csv_row({"report_id": "c-3", None: "x,y"}, b"raw", registry, NO_DEFAULTS)
    assert isinstance(result, Rejection)
    assert "more cells than the header" in result.problems[0]["message"]


# --- fingerprints ------------------------------------------------------------------------------


def test_fingerprint_ignores_server_set_fields_only(
    registry: AreaRegistry, make_report: MakeReport
) -> None:
    def report(**changes: Any) -> FieldReport:
        result = parse_json_line(encode(make_report("f-1", **changes)), registry, NO_DEFAULTS)
        assert isinstance(result, FieldReport)
        return result

    base = content_fingerprint(report())
    restamped = report(
        received_at=datetime.now(UTC).isoformat(), reporter={"unit": "Other", "role": "intel"}
    )
    assert content_fingerprint(restamped) == base
    assert content_fingerprint(report(severity=4)) != base
    assert content_fingerprint(report(text="lain")) != base
