"""Delivery decisions of the indexer (no services): item outcomes, backoff, batches, records."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schemas.deadletter import Reason, Stage
from schemas.registry import AreaRegistry
from sinks.es.names import IndexNames
from sinks.indexer.delivery import (
    Outcome,
    backoff_seconds,
    bulk_body,
    classify_item,
)
from sinks.indexer.records import PlanContext, Position, TopicKind, index_rejected, plan_record
from sinks.indexer.runner import Batch, BatchPolicy, next_offsets

NOW = datetime(2024, 2, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "error_type", "op", "versioned", "outcome"),
    [
        (201, None, "index", False, Outcome.INDEXED),
        (200, None, "index", True, Outcome.INDEXED),
        (404, None, "delete", False, Outcome.INDEXED),
        (409, "version_conflict_engine_exception", "index", True, Outcome.STALE),
        (429, "es_rejected_execution_exception", "index", False, Outcome.RETRY),
        (503, "unavailable_shards_exception", "index", False, Outcome.RETRY),
        (403, "cluster_block_exception", "index", False, Outcome.RETRY),
        (404, "index_not_found_exception", "index", False, Outcome.RETRY),
        (400, "document_parsing_exception", "index", False, Outcome.REJECTED),
        (400, "strict_dynamic_mapping_exception", "index", True, Outcome.REJECTED),
    ],
)
def test_item_outcomes(
    status: int, error_type: str | None, op: str, versioned: bool, outcome: Outcome
) -> None:
    error = {"type": error_type, "reason": "x"} if error_type else None
    assert classify_item(status, error, op, versioned).outcome is outcome


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    assert backoff_seconds(1, 0.2, 30, jitter=lambda: 1.0) == pytest.approx(0.2)
    assert backoff_seconds(3, 0.2, 30, jitter=lambda: 1.0) == pytest.approx(0.8)
    assert backoff_seconds(3, 0.2, 30, jitter=lambda: 0.0) == pytest.approx(0.4)
    assert backoff_seconds(20, 0.2, 30, jitter=lambda: 1.0) == pytest.approx(30)


def context(registry: AreaRegistry) -> PlanContext:
    return PlanContext(IndexNames("sitrep"), registry)


def test_invalid_json_and_invalid_report_become_dead_letters(registry: AreaRegistry) -> None:
    position = Position("sitrep.reports", 2, 41, b"64.71")
    broken = plan_record(TopicKind.REPORTS, position, b"{not json", context(registry), NOW)
    assert broken.actions == ()
    assert broken.dead_letter is not None
    assert broken.dead_letter.reason is Reason.INVALID_JSON
    assert broken.dead_letter.stage is Stage.INDEXER
    assert broken.dead_letter.origin is not None
    assert (broken.dead_letter.origin.partition, broken.dead_letter.origin.offset) == (2, 41)

    raw = json.dumps({"report_id": "r-9", "district": "99.99"}).encode()
    invalid = plan_record(TopicKind.REPORTS, position, raw, context(registry), NOW)
    assert invalid.dead_letter is not None
    assert invalid.dead_letter.reason is Reason.VALIDATION_FAILED
    assert invalid.dead_letter.report_id == "r-9"
    assert {e.path for e in invalid.dead_letter.errors} >= {"district", "severity"}


def test_tombstones(registry: AreaRegistry) -> None:
    status = plan_record(
        TopicKind.STATUS, Position("s", 0, 1, b"64.71"), None, context(registry), NOW
    )
    assert [(a.op, a.doc_id) for a in status.actions] == [("delete", "64.71")]
    report = plan_record(TopicKind.REPORTS, Position("r", 0, 1, b"k"), None, context(registry), NOW)
    assert report.dead_letter is not None


def test_rejected_document_dead_letter_carries_the_elasticsearch_error(
    make_report,  # type: ignore[no-untyped-def]
    registry: AreaRegistry,
) -> None:
    from schemas.report import report_to_json_bytes

    report = make_report()
    planned = plan_record(
        TopicKind.REPORTS,
        Position("r", 0, 7),
        report_to_json_bytes(report),
        context(registry),
        NOW,
    )
    dead = index_rejected(
        planned,
        {
            "type": "document_parsing_exception",
            "reason": "failed to parse field [severity]",
            "caused_by": {"type": "illegal_argument_exception", "reason": "bad"},
        },
        NOW,
    )
    assert dead.reason is Reason.INDEX_REJECTED
    assert dead.report_id == report.report_id
    assert dead.errors[0].type == "document_parsing_exception"
    assert "failed to parse field [severity]" in dead.errors[0].message


def test_bulk_body_is_ndjson_with_external_versions(registry: AreaRegistry, make_report) -> None:  # type: ignore[no-untyped-def]
    from sinks.documents import BulkAction

    actions = [
        BulkAction("index", "i", "a", '{"x":"ü"}'.encode(), version=5),
        BulkAction("delete", "i", "b"),
    ]
    lines = bulk_body(actions).decode().splitlines()
    assert json.loads(lines[0]) == {
        "index": {"_index": "i", "_id": "a", "version": 5, "version_type": "external"}
    }
    assert json.loads(lines[1]) == {"x": "ü"}
    assert json.loads(lines[2]) == {"delete": {"_index": "i", "_id": "b"}}
    assert len(lines) == 3


def test_batch_is_due_by_count_bytes_or_age(registry: AreaRegistry) -> None:
    planned = plan_record(TopicKind.REPORTS, Position("t", 0, 0), b"{}", context(registry), NOW)
    batch = Batch(BatchPolicy(max_actions=3, max_bytes=10_000, max_age_s=0.2))
    assert not batch.due(0.0)
    batch.add(planned, now=10.0)
    assert not batch.due(10.1)
    assert batch.due(10.25)
    batch.add(planned, 10.0)
    batch.add(planned, 10.0)
    assert batch.full and batch.due(10.0)
    assert len(batch.take()) == 3 and not batch.items
    small = Batch(BatchPolicy(max_actions=100, max_bytes=100, max_age_s=1))
    small.add(planned, 0.0)
    small.add(planned, 0.0)
    assert small.full


def test_offsets_to_commit_are_last_plus_one_per_partition(registry: AreaRegistry) -> None:
    def at(partition: int, offset: int):  # type: ignore[no-untyped-def]
        return plan_record(
            TopicKind.REPORTS, Position("t", partition, offset), b"{}", context(registry), NOW
        )

    assert next_offsets([at(0, 5), at(1, 2), at(0, 7), at(0, 6)]) == {("t", 0): 8, ("t", 1): 3}


def test_stall_detection() -> None:
    from sinks.indexer.app import stalled

    assert not stalled(0.0, 1000.0, 120)  # loop not started yet
    assert not stalled(990.0, 1000.0, 120)
    assert stalled(800.0, 1000.0, 120)


def test_watchdog_calls_back_when_the_loop_stops_turning() -> None:
    import threading
    import time

    from sinks.indexer.app import watch_for_stalls
    from sinks.indexer.metrics import IndexerMetrics

    metrics = IndexerMetrics()
    metrics.loop_heartbeat.set(time.time() - 10)
    fired = threading.Event()
    stop = threading.Event()
    watch_for_stalls(metrics, 0.2, stop, fired.set)
    assert fired.wait(5)
    stop.set()
