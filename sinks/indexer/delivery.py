"""Getting one batch into Elasticsearch: bulk, classify every item, retry what may succeed later.

Modelled on the Kafka Connect Elasticsearch sink: a batch is done only when Elasticsearch has
acknowledged every item (or the item was dead-lettered because it can never succeed); 429, 5xx,
connection errors and write blocks are retried with jittered exponential backoff for as long as
it takes. Only then may the caller commit the batch's offsets.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import structlog
from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from schemas.deadletter import DeadLetter
from sinks.documents import BulkAction
from sinks.indexer.metrics import IndexerMetrics
from sinks.indexer.records import Planned, index_rejected
from sinks.settings import IndexerSettings

log = structlog.get_logger("sinks.indexer")


class Outcome(StrEnum):
    INDEXED = "indexed"
    STALE = "stale"  # versioned write older than what is stored: ignored, which is success
    REJECTED = "rejected"  # can never succeed: dead-lettered
    RETRY = "retry"


@dataclass(frozen=True)
class ItemResult:
    outcome: Outcome
    retry_reason: str = ""
    error: dict[str, Any] = field(default_factory=dict)


def classify_item(
    status: int, error: dict[str, Any] | None, op: str, versioned: bool
) -> ItemResult:
    """What one bulk item's status means for delivery (pure)."""
    error = error or {}
    error_type = str(error.get("type", ""))
    if status < 300 or (op == "delete" and status == 404):
        return ItemResult(Outcome.INDEXED)
    if status == 409 and versioned and error_type == "version_conflict_engine_exception":
        return ItemResult(Outcome.STALE)
    if status == 429:
        return ItemResult(Outcome.RETRY, "429", error)
    if status >= 500 or status == 408:
        return ItemResult(Outcome.RETRY, "5xx", error)
    if status == 403 and error_type == "cluster_block_exception":
        # read-only index (reindex in progress, disk flood stage): writable again later
        return ItemResult(Outcome.RETRY, "blocked", error)
    if status == 404 and error_type == "index_not_found_exception":
        # automatic index creation turned off, or an alias being swapped
        return ItemResult(Outcome.RETRY, "missing_index", error)
    return ItemResult(Outcome.REJECTED, error=error)


def classify_request_error(exc: Exception) -> tuple[Outcome, str]:
    """A failure of the whole bulk request: retry, unless the request itself is malformed."""
    if isinstance(exc, ApiError):
        if exc.meta.status in (400, 413):
            return Outcome.REJECTED, str(exc.meta.status)
        return Outcome.RETRY, "429" if exc.meta.status == 429 else str(exc.meta.status)
    return Outcome.RETRY, "connection"


def backoff_seconds(
    attempt: int, initial_s: float, max_s: float, jitter: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with jitter: between half and all of min(max, initial * 2^(n-1))."""
    ceiling: float = min(max_s, initial_s * 2.0 ** max(0, attempt - 1))
    return ceiling * (0.5 + jitter() / 2)


def bulk_body(actions: Sequence[BulkAction]) -> bytes:
    """NDJSON bulk body; documents are already serialised."""
    parts: list[bytes] = []
    for action in actions:
        parts.append(json.dumps(action.header(), separators=(",", ":")).encode())
        if action.op != "delete" and action.document is not None:
            parts.append(action.document)
    parts.append(b"")
    return b"\n".join(parts)


Pair = tuple[Planned, BulkAction]


def send_bulk(es: Elasticsearch, pairs: Sequence[Pair]) -> list[ItemResult]:
    """One bulk request; one result per pair, in order."""
    try:
        response = es.bulk(
            operations=bulk_body([action for _, action in pairs]),  # type: ignore[arg-type]
            filter_path=["errors", "items.*.status", "items.*.error"],
        )
    except (ApiError, TransportError) as exc:
        outcome, reason = classify_request_error(exc)
        error = {"type": type(exc).__name__, "reason": str(exc)[:500]}
        return [ItemResult(outcome, reason, error) for _ in pairs]
    if not response.get("errors"):
        return [ItemResult(Outcome.INDEXED) for _ in pairs]
    results = []
    for (_, action), item in zip(pairs, response["items"], strict=True):
        ((op, body),) = item.items()
        results.append(classify_item(body["status"], body.get("error"), op, action.versioned))
    return results


@dataclass
class DeliveryReport:
    completed: bool  # every item acknowledged or dead-lettered: the offsets may be committed
    counts: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    seconds: float = 0.0


class Deliverer:
    """Delivers batches; runs on the indexer's delivery thread (clients are thread-safe)."""

    def __init__(
        self,
        es: Elasticsearch,
        dead_letters: Any,  # sitrep.deadletter.DeadLetterWriter (send/flush)
        settings: IndexerSettings,
        metrics: IndexerMetrics,
        stop: threading.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._es = es
        self._dead_letters = dead_letters
        self._settings = settings
        self._metrics = metrics
        self._stop = stop
        self._clock = clock

    def _wait(self, attempt: int, reason: str) -> bool:
        """Back off before the next attempt; False when the indexer is stopping."""
        delay = backoff_seconds(
            attempt, self._settings.retry_initial_ms / 1000, self._settings.retry_max_ms / 1000
        )
        self._metrics.retries.labels(reason=reason).inc()
        log.warning(
            "elasticsearch not ready, retrying",
            reason=reason,
            attempt=attempt,
            backoff_s=round(delay, 2),
        )
        return not self._stop.wait(delay)

    def deliver(self, batch: Sequence[Planned]) -> DeliveryReport:
        started = time.perf_counter()
        report = DeliveryReport(completed=False)
        dead: list[DeadLetter] = [p.dead_letter for p in batch if p.dead_letter is not None]
        pending: list[Pair] = [(p, a) for p in batch for a in p.actions]
        attempt = 0
        while pending:
            report.attempts += 1
            results = send_bulk(self._es, pending)
            retry: list[Pair] = []
            reasons: list[str] = []
            # Counted per (topic, outcome) and added to the metric once per attempt: a labelled
            # metric per document costs more than the rest of this loop.
            done: Counter[tuple[str, str]] = Counter()
            for (planned, action), result in zip(pending, results, strict=True):
                if result.outcome is Outcome.RETRY:
                    retry.append((planned, action))
                    reasons.append(result.retry_reason)
                    continue
                done[(planned.position.topic, result.outcome.value)] += 1
                if result.outcome is Outcome.REJECTED:
                    dead.append(index_rejected(planned, result.error, self._clock()))
                    log.warning(
                        "document rejected",
                        index=action.index,
                        doc_id=action.doc_id,
                        error=result.error.get("type"),
                    )
            for (topic, outcome), number in done.items():
                self._metrics.documents.labels(topic=topic, outcome=outcome).inc(number)
                report.counts[outcome] = report.counts.get(outcome, 0) + number
            pending = retry
            if pending:
                attempt += 1
                if not self._wait(attempt, reasons[0]):
                    return report
        attempt = 0
        while dead and not self._send_dead_letters(dead):
            attempt += 1
            if not self._wait(attempt, "deadletter"):
                return report
        report.completed = True
        report.seconds = time.perf_counter() - started
        self._metrics.batch_seconds.observe(report.seconds)
        return report

    def _send_dead_letters(self, dead: Sequence[DeadLetter]) -> bool:
        from kafka.errors import KafkaError

        try:
            futures = [self._dead_letters.send(record) for record in dead]
            self._dead_letters.flush(timeout_s=30)
            for future in futures:
                future.get(timeout=30)
        except KafkaError as exc:
            log.warning("dead-letter topic did not take the records", error=str(exc))
            return False
        for record in dead:
            self._metrics.deadlettered.labels(reason=record.reason.value).inc()
        return True
