"""Property-based tests of the report parsers: whatever comes in, the answer is a report or the
documented rejection (never an exception), the rejection fits in a dead-letter record, and every
valid report survives the trip through the wire format unchanged."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from producers.intake.checks import Stamp, check_batch
from producers.records import (
    Defaults,
    Rejection,
    content_fingerprint,
    file_defaults,
    parse_csv_row,
    parse_json_line,
)
from schemas.deadletter import DeadLetter, Reason, Stage
from schemas.registry import AreaRegistry, default_registry
from schemas.report import (
    REGISTRY_CONTEXT_KEY,
    Category,
    FieldReport,
    IncidentState,
    OperationPhase,
    ReporterRole,
    ReportKind,
    ReportSource,
    parse_report,
    report_to_json_bytes,
)
from streams.engine import Envelope, MemoryStore, PartitionEngine
from streams.scoring import load_scoring_config

REGISTRY: AreaRegistry = default_registry()
KAFKA_MAX_RECORD = 1_048_576
PARSER_REASONS = {Reason.INVALID_JSON, Reason.VALIDATION_FAILED}
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies --------------------------------------------------------------------------------

FIELDS = [
    "report_id",
    "occurred_at",
    "received_at",
    "district",
    "subdistrict",
    "village",
    "tps",
    "location",
    "kind",
    "category",
    "severity",
    "incident_id",
    "incident_state",
    "reporter",
    "source",
    "phase",
    "text",
    "schema_version",
]
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            *("64.71", "64.71.01", "64.71.02.1001", "64.99", "incident", "clash", "open", "1"),
            *("2024-11-27T10:00:00+08:00", "2999-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00"),
            *("{{7*7}}", "${jndi:ldap://x/a}", "a\r\nb", "\x00", "\ud800", "NaN"),
        ]
    ),
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)
report_like = st.dictionaries(st.sampled_from([*FIELDS, "lat", "lon", "x"]), json_values)


def dumps(value: Any) -> bytes:
    """JSON as a lenient producer writes it: NaN/Infinity allowed, lone surrogates escaped."""
    return json.dumps(value, allow_nan=True).encode()


def assert_documented_rejection(result: FieldReport | Rejection, stage: Stage) -> None:
    if isinstance(result, FieldReport):
        return
    assert result.reason in PARSER_REASONS
    assert result.problems, "a rejection says why"
    record = result.dead_letter(stage=stage, source="test", at=datetime.now(UTC))
    encoded = record.model_dump_json(exclude_none=True).encode()
    assert len(encoded) < KAFKA_MAX_RECORD
    assert DeadLetter.model_validate_json(encoded) == record


# --- arbitrary input: only the documented rejection --------------------------------------------


@FAST
@given(raw=st.binary(max_size=2000))
def test_json_line_parser_on_arbitrary_bytes(raw: bytes) -> None:
    result = parse_json_line(raw, REGISTRY, file_defaults(datetime.now(UTC)), line=1)
    assert_documented_rejection(result, Stage.PRODUCE)


@FAST
@given(value=json_values)
def test_json_line_parser_on_arbitrary_json(value: Any) -> None:
    result = parse_json_line(dumps(value), REGISTRY, file_defaults(datetime.now(UTC)), line=1)
    assert isinstance(result, Rejection) or isinstance(value, dict)
    assert_documented_rejection(result, Stage.PRODUCE)


@FAST
@given(document=report_like)
def test_json_line_parser_on_report_shaped_json(document: dict[str, Any]) -> None:
    result = parse_json_line(dumps(document), REGISTRY, Defaults(), line=1)
    assert_documented_rejection(result, Stage.PRODUCE)


@FAST
@given(raw=st.binary(max_size=2000) | report_like.map(dumps) | json_values.map(dumps))
def test_wire_model_raises_only_validation_errors(raw: bytes) -> None:
    try:
        FieldReport.model_validate_json(raw, context={REGISTRY_CONTEXT_KEY: REGISTRY})
    except ValidationError as exc:
        assert exc.errors(include_url=False)


@FAST
@given(raw=st.binary(max_size=2000) | report_like.map(dumps) | st.lists(report_like).map(dumps))
def test_intake_check_on_arbitrary_bodies(raw: bytes) -> None:
    checked = check_batch(raw, Stamp(datetime.now(UTC), "Polres Uji", "polres"), REGISTRY, 50)
    assert checked.problem in (None, "invalid_json", "too_large", "empty_batch")
    if checked.problem == "invalid_json":
        assert checked.rejection is not None
        assert_documented_rejection(checked.rejection, Stage.INTAKE)
    for _, rejection in checked.rejections:
        assert_documented_rejection(rejection, Stage.INTAKE)


csv_headers = st.sampled_from(
    [*FIELDS, "location.lat", "location.lon", "reporter.unit", "reporter.role", "reporter"]
)
csv_cells = st.none() | st.text(max_size=30) | st.sampled_from(["nan", "inf", "-0", "1e400", "3"])


@FAST
@given(row=st.dictionaries(csv_headers | st.none(), csv_cells))
def test_csv_row_parser_on_arbitrary_rows(row: dict[str | None, str | None]) -> None:
    raw = ",".join(str(v) for v in row.values()).encode("utf-8", "surrogatepass")
    result = parse_csv_row(row, raw, REGISTRY, file_defaults(datetime.now(UTC)), line=2)
    assert_documented_rejection(result, Stage.PRODUCE)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.binary(max_size=300) | report_like.map(dumps) | st.none(), max_size=8))
def test_worker_engine_on_arbitrary_records(values: list[bytes | None]) -> None:
    engine = PartitionEngine(load_scoring_config(), REGISTRY, ZoneInfo("Asia/Makassar"))
    envelopes = [
        Envelope("sitrep.reports", 0, offset, None, value)  # type: ignore[arg-type]
        for offset, value in enumerate(values)
    ]
    result = engine.process(0, envelopes, MemoryStore(), datetime.now(UTC))
    assert result.applied + result.duplicates + result.too_late + result.invalid == len(values)
    assert len(result.dead_letters) == result.invalid + result.too_late
    for record in result.dead_letters:
        assert len(record.model_dump_json(exclude_none=True).encode()) < KAFKA_MAX_RECORD


# --- valid reports round-trip ------------------------------------------------------------------

REGENCIES = [area.code for area in REGISTRY.regencies("64")]
identifiers = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,40}\Z")
offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# CSV cells are stripped: units as a CSV can carry them.
unit_text = (
    st.text(string.ascii_letters + string.digits + " ", min_size=1, max_size=60)
    .map(str.strip)
    .filter(bool)
)


@st.composite
def valid_reports(draw: st.DrawFn) -> dict[str, Any]:
    district = draw(st.sampled_from(REGENCIES))
    kecamatan = draw(st.none() | st.sampled_from(REGISTRY.districts(district)))
    village = None
    if kecamatan is not None and draw(st.booleans()):
        villages = REGISTRY.villages(kecamatan.code)
        village = draw(st.sampled_from(villages)).code if villages else None
    received = draw(
        st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1), timezones=offsets)
    ).replace(microsecond=0)
    occurred = received - draw(st.timedeltas(timedelta(0), timedelta(days=3)))
    document: dict[str, Any] = {
        "report_id": draw(identifiers),
        "occurred_at": occurred.isoformat(),
        "received_at": received.isoformat(),
        "district": district,
        "kind": draw(st.sampled_from(list(ReportKind))).value,
        "category": draw(st.sampled_from(list(Category))).value,
        "severity": draw(st.integers(1, 5)),
        "incident_state": draw(st.sampled_from(list(IncidentState))).value,
        "reporter": {
            "unit": draw(unit_text),
            "role": draw(st.sampled_from(list(ReporterRole))).value,
        },
        "source": draw(st.sampled_from(list(ReportSource))).value,
        "phase": draw(st.sampled_from(list(OperationPhase))).value,
        "text": draw(st.text(max_size=300)),
        "schema_version": 1,
    }
    if kecamatan is not None:
        document["subdistrict"] = kecamatan.code
    if village is not None:
        document["village"] = village
    if draw(st.booleans()):
        document["location"] = {
            "lat": draw(st.floats(-90, 90, allow_nan=False)),
            "lon": draw(st.floats(-180, 180, allow_nan=False)),
        }
    if draw(st.booleans()):
        document["tps"] = draw(st.from_regex(r"\A[0-9A-Za-z-]{1,16}\Z"))
    if draw(st.booleans()):
        document["incident_id"] = draw(identifiers)
    return document


def surrogate_free(text: str) -> bool:
    return not any("\ud800" <= ch <= "\udfff" for ch in text)


@FAST
@given(document=valid_reports())
def test_valid_reports_round_trip(document: dict[str, Any]) -> None:
    raw = json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    result = parse_json_line(raw, REGISTRY, Defaults(), line=1)
    if not surrogate_free(document["text"]):
        assert isinstance(result, Rejection) and result.reason is Reason.VALIDATION_FAILED
        return
    assert isinstance(result, FieldReport), getattr(result, "problems", None)
    assert result.text == document["text"]
    assert result.report_id == document["report_id"]
    assert result.occurred_at == datetime.fromisoformat(document["occurred_at"])
    assert result.incident_id == document.get("incident_id", document["report_id"])
    wire = report_to_json_bytes(result)
    again = parse_report(wire, REGISTRY)
    assert again == result
    assert content_fingerprint(again) == content_fingerprint(result)
    # What the worker parses from the topic is what the producer validated.
    assert FieldReport.model_validate_json(wire, context={REGISTRY_CONTEXT_KEY: REGISTRY}) == result


@FAST
@given(document=valid_reports())
def test_valid_reports_round_trip_through_csv(document: dict[str, Any]) -> None:
    text = document["text"]
    if not surrogate_free(text) or text != text.strip() or "\r" in text:
        document["text"] = "laporan uji"
    if not document["text"]:
        document["text"] = "laporan uji"
    row: dict[str | None, str | None] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            for inner, cell in value.items():
                row[f"{key}.{inner}"] = repr(cell) if isinstance(cell, float) else str(cell)
        else:
            row[key] = str(value)
    result = parse_csv_row(row, b"", REGISTRY, Defaults(), line=2)
    assert isinstance(result, FieldReport), getattr(result, "problems", None)
    expected = parse_json_line(json.dumps(document).encode(), REGISTRY, Defaults())
    assert result == expected


def test_a_file_from_a_clock_years_ahead_is_refused() -> None:
    """received_at in 2999 is valid by the contract (occurred_at is judged against it), but it
    would move the worker's stream time a thousand years ahead: the file producer refuses it."""
    future = "2999-01-01T00:00:00+08:00"
    document = {
        "report_id": "r-1",
        "occurred_at": future,
        "received_at": future,
        "district": "64.71",
        "kind": "incident",
        "category": "clash",
        "severity": 3,
        "reporter": {"unit": "Polsek Uji", "role": "polsek"},
        "source": "file",
        "phase": "campaign",
        "text": "jam perangkat salah",
        "schema_version": 1,
    }
    raw = json.dumps(document).encode()
    result = parse_json_line(raw, REGISTRY, file_defaults(datetime.now(UTC)), line=3)
    assert isinstance(result, Rejection)
    assert [p["path"] for p in result.problems] == ["received_at"]
    assert result.problems[0]["type"] == "received_in_future"
    # The same line without the producer's clock check (the simulator's) passes the contract.
    assert isinstance(parse_json_line(raw, REGISTRY, Defaults(), line=3), FieldReport)


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_invalid_json_everywhere(depth: int) -> None:
    raw = b"[" * depth + b"]" * depth
    result = parse_json_line(raw, REGISTRY, Defaults(), line=1)
    assert isinstance(result, Rejection) and result.reason is Reason.INVALID_JSON
    checked = check_batch(raw, Stamp(datetime.now(UTC), "u", "polres"), REGISTRY, 50)
    assert checked.problem == "invalid_json"
