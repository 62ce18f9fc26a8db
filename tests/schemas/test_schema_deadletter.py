"""Dead-letter records keep the raw bytes and every reason, with a stable id."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from schemas.deadletter import (
    MAX_RAW_BYTES,
    DeadLetter,
    Reason,
    Stage,
    guess_identity,
    make_dead_letter,
    raw_bytes,
)

AT = datetime(2024, 11, 27, 8, 0, tzinfo=UTC)


def _record(raw: bytes, **kwargs: object) -> DeadLetter:
    defaults: dict[str, object] = {
        "stage": Stage.PRODUCE,
        "reason": Reason.VALIDATION_FAILED,
        "source": "file:reports.jsonl",
        "raw": raw,
        "at": AT,
    }
    return make_dead_letter(**{**defaults, **kwargs})  # type: ignore[arg-type]


def test_raw_bytes_survive_a_round_trip_through_json() -> None:
    raw = b'{"report_id": "r-1", "severity": 9}\xff'
    record = _record(raw, errors=[{"path": "severity", "message": "too big", "type": "le"}])
    again = DeadLetter.model_validate_json(record.model_dump_json())
    assert raw_bytes(again) == raw
    assert again.raw_text is None  # not UTF-8
    assert again.errors[0].path == "severity"


def test_same_input_gives_the_same_id_and_other_input_another() -> None:
    assert _record(b"x", line=3).dead_letter_id == _record(b"x", line=3).dead_letter_id
    assert _record(b"x", line=3).dead_letter_id != _record(b"x", line=4).dead_letter_id
    assert _record(b"x").dead_letter_id != _record(b"y").dead_letter_id


def test_huge_payloads_are_cut_and_marked() -> None:
    record = _record(b"a" * (MAX_RAW_BYTES + 10))
    assert record.raw_truncated
    assert len(raw_bytes(record)) == MAX_RAW_BYTES


def test_identity_is_read_from_bad_reports_when_possible() -> None:
    raw = json.dumps({"report_id": "r-9", "district": "64.71", "severity": 0}).encode()
    assert guess_identity(raw) == {"report_id": "r-9", "district": "64.71"}
    assert guess_identity(b"not json") == {}
    assert guess_identity(b"[1, 2]") == {}
