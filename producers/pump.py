"""Pumping parsed inputs into Kafka: the loop shared by ``sitrep produce`` and ``sitrep simulate``.

Every input ends up in exactly one place: a valid report on ``sitrep.reports``, anything else on
``sitrep.deadletter`` with its reason and line. The summary counts only what Kafka acknowledged.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from kafka.errors import KafkaError

from producers.delivery import DeliveryTracker, ReportWriter
from producers.files import ParsedInput, ValidationWorkerDied
from producers.records import Outbound, Rejection
from schemas.deadletter import Stage

log = structlog.get_logger("producers.pump")


class RatePacer:
    """Keeps a steady rate (reports per second); ``None`` means as fast as possible."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._next = clock()

    def wait(self) -> None:
        if not self._interval:
            return
        now = self._clock()
        if self._next > now:
            time.sleep(self._next - now)
        # Never bank more than a second of credit after a stall (e.g. a Kafka hiccup).
        self._next = max(self._next, self._clock() - 1.0) + self._interval


@dataclass
class PumpSummary:
    read: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    dead_lettered: int = 0
    failed_reports: int = 0
    failed_dead_letters: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    stopped_by: str | None = None  # why reading stopped before the end of the input

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def complete(self) -> bool:
        """Every input is accounted for in Kafka (as a report or as a dead letter)."""
        return not self.failed_reports and not self.failed_dead_letters and not self.stopped_by

    def as_dict(self) -> dict[str, object]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected_total,
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "dead_lettered": self.dead_lettered,
            "not_acknowledged": self.failed_reports,
            "dead_letters_not_acknowledged": self.failed_dead_letters,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "stopped_by": self.stopped_by,
        }


def pump(
    inputs: Iterable[ParsedInput],
    writer: ReportWriter,
    tracker: DeliveryTracker,
    *,
    stage: Stage,
    source: str,
    pacer: RatePacer | None = None,
    on_input: Callable[[ParsedInput], None] | None = None,
    flush_timeout_s: float = 300.0,
) -> PumpSummary:
    """Send every input, then flush and wait for every acknowledgement before returning.

    ``flush_timeout_s`` bounds the final wait; the producer itself retries each record until
    its delivery timeout, so a broker restart in the middle is ridden out, not reported.
    """
    summary = PumpSummary()
    started = time.monotonic()
    try:
        for parsed in inputs:
            if pacer is not None:
                pacer.wait()
            summary.read += 1
            _send(parsed.result, writer, tracker, summary, stage=stage, source=source)
            if on_input is not None:
                on_input(parsed)
    except KeyboardInterrupt:
        # Stop reading, but deliver and count what was already handed to the producer.
        summary.interrupted = True
    except ValidationWorkerDied as exc:
        # The rest of the input was never validated: say so, and deliver what was handed over.
        summary.stopped_by = str(exc)
        log.error("reading stopped", reason=summary.stopped_by, read=summary.read)
    finally:
        try:
            writer.flush(timeout_s=flush_timeout_s)
        except KafkaError as exc:
            log.error("flush did not complete", error=str(exc))
        tracker.settle_all(timeout_s=flush_timeout_s)
        summary.accepted = tracker.tally.accepted
        summary.dead_lettered = tracker.tally.dead_lettered
        summary.failed_reports = tracker.tally.failed_reports
        summary.failed_dead_letters = tracker.tally.failed_dead_letters
        summary.seconds = time.monotonic() - started
    return summary


def _send(
    result: Outbound | Rejection,
    writer: ReportWriter,
    tracker: DeliveryTracker,
    summary: PumpSummary,
    *,
    stage: Stage,
    source: str,
) -> None:
    try:
        if isinstance(result, Rejection):
            summary.rejected[result.reason.value] += 1
            future = writer.send_rejection(result, stage=stage, source=source, at=datetime.now(UTC))
            tracker.track_dead_letter(result.report_id, future)
        else:
            tracker.track_report(result, writer.send(result))
    except KafkaError as exc:
        # send() gives up when the producer buffer stays full or metadata never comes
        # (max_block_ms): the input was not handed over, so it is counted as not acknowledged.
        tracker.record_refused(result, exc)
