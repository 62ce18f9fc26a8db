"""The Kafka edge of every producer: reports to ``sitrep.reports``, rejects to the dead letters.

Thin adapter over kafka-python (acks=all, idempotent, built by ``sitrep.clients``). A report
counts as accepted only once its send future has completed successfully, i.e. the broker has
acknowledged it on all in-sync replicas; nothing here ever claims more.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from producers.records import Outbound, Rejection
from schemas.deadletter import Stage
from sitrep.deadletter import DeadLetterWriter

log = structlog.get_logger("producers.delivery")


@dataclass(frozen=True)
class Receipt:
    """Where Kafka stored an accepted report."""

    report_id: str
    district: str
    partition: int
    offset: int


class ReportWriter:
    """Sends reports keyed by regency code, and rejections as dead-letter records."""

    def __init__(self, producer: Any, reports_topic: str, deadletter_topic: str) -> None:
        self.producer = producer
        self.reports_topic = reports_topic
        self._dead_letters = DeadLetterWriter(producer, deadletter_topic)

    def send(self, report: Outbound) -> Any:
        return self.send_bytes(report.district, report.value)

    def send_bytes(self, district: str, value: bytes, traceparent: str | None = None) -> Any:
        if traceparent is None:
            return self.producer.send(self.reports_topic, key=district.encode(), value=value)
        headers = [("traceparent", traceparent.encode("ascii"))]
        return self.producer.send(
            self.reports_topic, key=district.encode(), value=value, headers=headers
        )

    def send_rejection(
        self, rejection: Rejection, *, stage: Stage, source: str, at: datetime
    ) -> Any:
        return self._dead_letters.send(rejection.dead_letter(stage=stage, source=source, at=at))

    def flush(self, timeout_s: float | None = None) -> None:
        self.producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        self.producer.close(timeout=timeout_s)


@dataclass
class DeliveryTally:
    """What Kafka acknowledged so far (reports and dead letters) and what it refused."""

    accepted: int = 0
    dead_lettered: int = 0
    failed_reports: int = 0
    failed_dead_letters: int = 0


class DeliveryTracker:
    """Follows send futures in order and settles them as they complete.

    Kept bounded: completed futures are taken off the front on every ``track``. ``on_receipt``
    sees each acknowledged report (e.g. to write a receipts file); failures are logged with the
    report id and counted, never reported as accepted.
    """

    def __init__(self, on_receipt: Callable[[Receipt], None] | None = None) -> None:
        self.tally = DeliveryTally()
        self.failure_reasons: Counter[str] = Counter()
        self._pending: deque[tuple[str, str | None, str, Any]] = deque()
        self._on_receipt = on_receipt

    def track_report(self, report: Outbound, future: Any) -> None:
        self._pending.append(("report", report.report_id, report.district, future))
        self.settle_done()

    def track_dead_letter(self, report_id: str | None, future: Any) -> None:
        self._pending.append(("dead_letter", report_id, "", future))
        self.settle_done()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def settle_done(self) -> None:
        while self._pending and self._pending[0][3].is_done:
            self._settle(*self._pending.popleft())

    def settle_all(self, timeout_s: float) -> None:
        """Wait for every tracked send (the producer must have been flushed or be flushing)."""
        deadline = time.monotonic() + timeout_s
        while self._pending:
            kind, report_id, district, future = self._pending.popleft()
            remaining = max(0.0, deadline - time.monotonic())
            # A failed or timed-out future is settled below from its own state.
            with contextlib.suppress(Exception):
                future.get(timeout=remaining)
            self._settle(kind, report_id, district, future)

    def record_refused(self, item: Outbound | Rejection, error: Exception) -> None:
        """A send that raised before the producer took the record."""
        self.failure_reasons[type(error).__name__] += 1
        if isinstance(item, Rejection):
            self.tally.failed_dead_letters += 1
        else:
            self.tally.failed_reports += 1
        log.error("kafka producer refused the record", report_id=item.report_id, error=str(error))

    def _settle(self, kind: str, report_id: str | None, district: str, future: Any) -> None:
        if future.is_done and future.succeeded():
            if kind == "report":
                self.tally.accepted += 1
                if self._on_receipt is not None and report_id is not None:
                    meta = future.value
                    self._on_receipt(Receipt(report_id, district, meta.partition, meta.offset))
            else:
                self.tally.dead_lettered += 1
            return
        error = future.exception if future.is_done else "no acknowledgement before the timeout"
        self.failure_reasons[type(error).__name__ if future.is_done else "timeout"] += 1
        if kind == "report":
            self.tally.failed_reports += 1
        else:
            self.tally.failed_dead_letters += 1
        log.error("kafka did not acknowledge", kind=kind, report_id=report_id, error=str(error))
