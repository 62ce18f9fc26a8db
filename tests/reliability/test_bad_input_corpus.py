"""The bad-input corpus through each entry point's judging code, in process (no Kafka): the file
producer's line parser, the intake's request check, and the worker's engine. Fast, and the
same expectations the integration tests hold the running processes to."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from producers.intake.checks import Stamp, check_batch
from producers.records import Rejection, file_defaults, parse_json_line
from schemas.deadletter import MAX_RAW_BYTES, DeadLetter, Stage
from schemas.registry import AreaRegistry, default_registry
from schemas.report import FieldReport
from streams.engine import Envelope, MemoryStore, PartitionEngine
from streams.scoring import load_scoring_config
from tests.reliability.conftest_bad_input import (
    Case,
    Outcome,
    case_report_id,
    cases_for,
    load_corpus,
    valid_report,
)

# The broker's default message.max.bytes: a dead letter must fit in one record.
KAFKA_MAX_RECORD = 1_048_576


@pytest.fixture(scope="module")
def registry() -> AreaRegistry:
    return default_registry()


def ids(pairs: list[tuple[Case, Outcome]]) -> list[str]:
    return [case.name for case, _ in pairs]


def assert_fits_in_kafka(record: DeadLetter) -> None:
    size = len(record.model_dump_json(exclude_none=True).encode())
    assert size < KAFKA_MAX_RECORD, f"dead letter of {size} bytes does not fit in a record"


def test_corpus_is_well_formed() -> None:
    cases = load_corpus()
    assert len(cases) >= 60
    for case in cases:
        assert case.what, case.name
        inputs = {"raw", "raw_file", "raw_null", "report", "generate"} & set(case.spec)
        assert len(inputs) == 1, f"{case.name}: exactly one input, got {inputs}"
        for entry in ("intake", "produce", "worker"):
            outcome = case.outcome(entry)  # type: ignore[arg-type]
            if outcome is not None and entry == "intake":
                assert outcome.http is not None, f"{case.name}: no HTTP status for the intake"


PRODUCE = cases_for("produce")


@pytest.mark.parametrize(("case", "outcome"), PRODUCE, ids=ids(PRODUCE))
def test_file_line_parser(case: Case, outcome: Outcome, registry: AreaRegistry) -> None:
    previous = "ok-previous-1"
    raw = case.build(case_report_id(case, "unit"), previous)
    assert raw is not None
    result = parse_json_line(raw, registry, file_defaults(datetime.now(UTC)), line=7)
    if outcome.accepted:
        assert isinstance(result, FieldReport), getattr(result, "problems", None)
        if outcome.verbatim:
            assert result.text == json.loads(raw)["text"]
        return
    assert isinstance(result, Rejection)
    assert result.reason.value == outcome.reason, result.problems
    assert set(outcome.paths) <= {p["path"] for p in result.problems}, result.problems
    record = result.dead_letter(stage=Stage.PRODUCE, source="file:x.jsonl", at=datetime.now(UTC))
    assert record.line == 7
    assert record.raw_base64  # the raw bytes are kept (cut at MAX_RAW_BYTES)
    assert record.raw_truncated == (len(raw) > MAX_RAW_BYTES)
    assert_fits_in_kafka(record)


# Scope (403), duplicates (409) and size (413) are decided after the request check, by the
# service and the app: the integration test holds the running intake to those.
INTAKE = [(case, o) for case, o in cases_for("intake") if o.http not in (403, 409, 413)]


@pytest.mark.parametrize(("case", "outcome"), INTAKE, ids=ids(INTAKE))
def test_intake_request_check(case: Case, outcome: Outcome, registry: AreaRegistry) -> None:
    """What ``check_batch`` decides about one request body."""
    raw = case.build(case_report_id(case, "unit"), "ok-previous-1")
    assert raw is not None
    stamp = Stamp(datetime.now(UTC), "Polres Balikpapan", "polres")
    checked = check_batch(raw, stamp, registry, max_batch=50)
    if outcome.http == 202:
        assert checked.problem is None and not checked.rejections, checked
        return
    code = outcome.error or outcome.reason
    if code == "invalid_json":
        assert checked.problem == "invalid_json" and checked.rejection is not None
        assert_fits_in_kafka(
            checked.rejection.dead_letter(stage=Stage.INTAKE, source="http:x", at=stamp[0])
        )
        return
    if checked.problem == "empty_batch":
        assert not outcome.dead_letter
        return
    [(_, rejection)] = checked.rejections
    assert rejection.reason.value == code
    assert set(outcome.paths) <= {p["path"] for p in rejection.problems}, rejection.problems
    assert_fits_in_kafka(rejection.dead_letter(stage=Stage.INTAKE, source="http:x", at=stamp[0]))


WORKER = cases_for("worker")


def test_worker_engine_on_the_corpus(registry: AreaRegistry) -> None:
    """Every case between two valid reports, in one batch through the worker's engine: each bad
    one is dead-lettered with its reason, the valid ones (and accepted cases) are applied."""
    engine = PartitionEngine(load_scoring_config(), registry, ZoneInfo("Asia/Makassar"))
    envelopes: list[Envelope] = []
    expected: dict[int, tuple[Case, Outcome]] = {}
    valid_offsets: list[int] = []
    for case, outcome in WORKER:
        before = valid_report()
        for raw, what in (
            (json.dumps(before).encode(), None),
            (case.build(case_report_id(case, "unit"), before["report_id"]), (case, outcome)),
            (json.dumps(valid_report()).encode(), None),
        ):
            offset = len(envelopes)
            envelopes.append(Envelope("sitrep.reports", 0, offset, b"64.71", raw))  # type: ignore[arg-type]
            if what is None:
                valid_offsets.append(offset)
            else:
                expected[offset] = what
    result = engine.process(0, envelopes, MemoryStore(), datetime.now(UTC))

    dead = {record.origin.offset: record for record in result.dead_letters if record.origin}
    applied = {offset for offset, _ in result.accepted}
    problems = []
    for offset, (case, outcome) in expected.items():
        record = dead.get(offset)
        if outcome.reason is None:
            wanted_applied = not outcome.duplicate
            if record is not None or (offset in applied) != wanted_applied:
                problems.append(f"{case.name}: dead letter {record and record.reason}")
            continue
        if record is None:
            problems.append(f"{case.name}: no dead letter (wanted {outcome.reason})")
            continue
        paths = {error.path for error in record.errors}
        if record.reason.value != outcome.reason or not set(outcome.paths) <= paths:
            problems.append(f"{case.name}: {record.reason.value} {sorted(paths)[:5]}")
        assert_fits_in_kafka(record)
    assert not problems, "\n".join(problems)
    assert set(valid_offsets) <= applied
    accepted = sum(1 for o in expected.values() if o[1].accepted)
    duplicates = sum(1 for o in expected.values() if o[1].duplicate)
    assert result.applied == len(valid_offsets) + accepted
    assert result.duplicates == duplicates
    assert len(result.dead_letters) == len(expected) - accepted - duplicates
