"""What the HTTP intake does with one request, independent of the web framework.

The CPU-bound checks (decode, stamp, validate, fingerprint) are ``checks.check_batch``, run in
a worker process when configured; this module decides, talks to the duplicate store and Kafka.

Order of checks (the first that fails answers, and only that request's rejects are written, to
the dead letters): JSON -> batch size -> schema -> regency scope of the token -> duplicates.
A batch is all or nothing: one bad report rejects the request and no report of it is written.
202 only after Kafka acknowledged every new report of the batch.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from producers.dedup import FingerprintStore, Verdict, verdicts
from producers.delivery import ReportWriter
from producers.intake.checks import (
    BatchCheck,
    Checked,
    CheckerPool,
    Stamp,
    check_batch,
    check_in_worker,
    entry_of,
)
from producers.records import Rejection, problem
from producers.tokens import TokenGrant
from schemas.deadletter import Reason, Stage
from schemas.registry import AreaRegistry
from sitrep.tracing import NOOP, Tracing

log = structlog.get_logger("producers.intake")


@dataclass(frozen=True)
class Outcome:
    """The answer to one request: HTTP status and JSON body, plus what to count."""

    status: int
    body: dict[str, Any]
    accepted: int = 0
    repeated: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


# Indonesian first (field units read it), English beside it.
MESSAGES: dict[str, tuple[str, str]] = {
    "invalid_json": (
        "Isi permintaan bukan JSON yang valid.",
        "The request body is not valid JSON.",
    ),
    "validation_failed": (
        "Laporan tidak valid; periksa kolom yang disebutkan. Tidak ada laporan yang disimpan.",
        "Invalid report(s); check the fields listed. No report of this request was stored.",
    ),
    "unauthorized_area": (
        "Token ini tidak berwenang melapor untuk kabupaten/kota tersebut.",
        "This token may not report for that regency/city.",
    ),
    "conflicting_duplicate": (
        "report_id sudah dipakai untuk laporan dengan isi berbeda; gunakan report_id baru.",
        "report_id already used for a report with different content; use a new report_id.",
    ),
    "too_large": (
        "Permintaan terlalu besar.",
        "Request too large.",
    ),
    "kafka_unavailable": (
        "Laporan belum dapat disimpan; kirim ulang nanti dengan report_id yang sama.",
        "The reports could not be stored yet; retry later with the same report_id.",
    ),
}


def error_body(code: str, **extra: Any) -> dict[str, Any]:
    indonesian, english = MESSAGES[code]
    return {"error": code, "pesan": indonesian, "message": english, **extra}


class BatchAcknowledgement:
    """One asyncio future for a whole batch of kafka-python sends.

    The producer's I/O thread completes the sends; only the last one wakes the event loop, so a
    batch of 100 costs one loop wake-up, not a hundred.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, futures: Sequence[Any]) -> None:
        self.done: asyncio.Future[None] = loop.create_future()
        self.failures: list[BaseException] = []
        self._loop = loop
        self._remaining = len(futures)
        self._lock = threading.Lock()
        if not futures:
            self.done.set_result(None)
        for future in futures:
            future.add_callback(self._one_done)
            future.add_errback(self._one_failed)

    def _one_done(self, _value: object) -> None:
        self._count()

    def _one_failed(self, error: BaseException) -> None:
        with self._lock:
            self.failures.append(error)
        self._count()

    def _count(self) -> None:
        with self._lock:
            self._remaining -= 1
            last = self._remaining == 0
        if last:
            self._loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class IntakeService:
    def __init__(
        self,
        *,
        writer: ReportWriter,
        dedup: FingerprintStore,
        registry: AreaRegistry,
        max_batch: int,
        ack_timeout_s: float,
        checkers: CheckerPool | None = None,
        tracing: Tracing = NOOP,
    ) -> None:
        self.writer = writer
        self.tracing = tracing
        self.dedup = dedup
        self.registry = registry
        self.max_batch = max_batch
        self.ack_timeout_s = ack_timeout_s
        self.checkers = checkers
        # SQLite work runs on one thread of its own (the connection is not shared between
        # threads, and the event loop does not wait on disk).
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="intake-dedup")
        # Ids being sent right now (not yet acknowledged): a concurrent request with the same id
        # is judged against these too. Only touched from the event loop thread.
        self._in_flight: dict[str, str] = {}

    def close(self) -> None:
        self._store_thread.shutdown(wait=True)
        if self.checkers is not None:
            self.checkers.close()

    async def submit(self, body: bytes, grant: TokenGrant, now: datetime) -> Outcome:
        source = f"http:{grant.unit}"
        stamp = Stamp(now, grant.unit, grant.role.value)
        checked = await self._check(body, stamp)
        if checked.problem == "invalid_json" and checked.rejection is not None:
            await self._dead_letter([checked.rejection], source, now)
            problems = list(checked.rejection.problems)
            return Outcome(
                422, error_body("invalid_json", problems=problems), rejected={"invalid_json": 1}
            )
        if checked.problem == "too_large":
            answer = error_body("too_large", max_batch=self.max_batch, received=checked.size)
            return Outcome(413, answer, rejected={"too_large": checked.size})
        if checked.problem == "empty_batch":
            problems = [problem("", "empty batch: send at least one report", "empty_batch")]
            return Outcome(422, error_body("validation_failed", reports=[], problems=problems))
        return await self._decide(body, checked, grant, source, now)

    async def _check(self, body: bytes, stamp: Stamp) -> BatchCheck:
        if self.checkers is None:
            return check_batch(body, stamp, self.registry, self.max_batch)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.checkers.executor, check_in_worker, body, stamp, self.max_batch
        )

    async def _decide(
        self, body: bytes, checked: BatchCheck, grant: TokenGrant, source: str, now: datetime
    ) -> Outcome:
        if checked.rejections:
            return await self._reject(422, "validation_failed", checked.rejections, source, now)
        reports = checked.valid
        outside = [
            (item.position, _outside_scope(item, entry_of(body, item.position), grant))
            for item in reports
            if not grant.may_report_for(item.district)
        ]
        if outside:
            return await self._reject(403, "unauthorized_area", outside, source, now)

        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(
            self._store_thread, self.dedup.lookup, [item.report_id for item in reports]
        )
        pairs = [(item.report_id, item.fingerprint) for item in reports]
        judged = [
            self._against_in_flight(item, verdict)
            for item, (_, verdict) in zip(reports, verdicts(pairs, stored), strict=True)
        ]
        conflicts = [
            (item.position, _conflict(item, entry_of(body, item.position)))
            for item, verdict in zip(reports, judged, strict=True)
            if verdict is Verdict.CONFLICT
        ]
        if conflicts:
            return await self._reject(409, "conflicting_duplicate", conflicts, source, now)

        new = [
            item for item, verdict in zip(reports, judged, strict=True) if verdict is Verdict.NEW
        ]
        new_ids = {item.report_id for item in new}
        repeated = sorted({item.report_id for item in reports} - new_ids)
        failure = await self._send(new, now)
        if failure is not None:
            return Outcome(503, error_body("kafka_unavailable", detail=failure))
        accepted_ids = list(dict.fromkeys(item.report_id for item in reports))
        return Outcome(
            202,
            {"accepted": accepted_ids, "duplicates": repeated, "received_at": now.isoformat()},
            accepted=len(new),
            repeated=len(repeated),
        )

    def _against_in_flight(self, item: Checked, verdict: Verdict) -> Verdict:
        """A concurrent request sending the same id: different content conflicts; the same
        content is sent again (not answered from the other request, whose send may still fail),
        downstream dedupes by report_id."""
        sending = self._in_flight.get(item.report_id)
        if verdict is Verdict.NEW and sending is not None and sending != item.fingerprint:
            return Verdict.CONFLICT
        return verdict

    async def _send(self, new: list[Checked], now: datetime) -> str | None:
        """Send the new reports and wait for Kafka; None when all were acknowledged."""
        if not new:
            return None
        if not self.tracing.enabled:
            return await self._send_traced(new, now, None)
        with self.tracing.span("intake.accept", **{"sitrep.reports": len(new)}) as traceparent:
            return await self._send_traced(new, now, traceparent)

    async def _send_traced(
        self, new: list[Checked], now: datetime, traceparent: str | None
    ) -> str | None:
        for item in new:
            self._in_flight[item.report_id] = item.fingerprint
        try:
            # send() may block (metadata refresh, full buffer): keep it off the event loop.
            futures = await asyncio.to_thread(self._send_all, new, traceparent)
            acknowledgement = BatchAcknowledgement(asyncio.get_running_loop(), futures)
            try:
                await asyncio.wait_for(
                    asyncio.shield(acknowledgement.done), timeout=self.ack_timeout_s
                )
            except TimeoutError:
                log.error("kafka acknowledgement timed out", reports=len(new))
                return f"no acknowledgement from Kafka within {self.ack_timeout_s:g}s"
            acknowledged = {
                item.report_id: item.fingerprint
                for item, future in zip(new, futures, strict=True)
                if future.succeeded()
            }
            # Remembered before the answer (and before leaving _in_flight): a quick re-send
            # with other content is always seen.
            await asyncio.get_running_loop().run_in_executor(
                self._store_thread, self.dedup.remember, acknowledged, now
            )
            if acknowledgement.failures:
                error = acknowledgement.failures[0]
                failed = len(acknowledgement.failures)
                log.error("kafka refused reports", failed=failed, error=str(error))
                return f"Kafka did not acknowledge {failed} report(s): {error}"
            return None
        except Exception as exc:  # KafkaTimeoutError from send(), connection errors
            log.error("sending to kafka failed", error=str(exc))
            return f"sending to Kafka failed: {exc}"
        finally:
            for item in new:
                self._in_flight.pop(item.report_id, None)

    def _send_all(self, items: list[Checked], traceparent: str | None = None) -> list[Any]:
        return [self.writer.send_bytes(item.district, item.value, traceparent) for item in items]

    async def _reject(
        self,
        status: int,
        code: str,
        rejections: list[tuple[int, Rejection]],
        source: str,
        now: datetime,
    ) -> Outcome:
        await self._dead_letter([rejection for _, rejection in rejections], source, now)
        details = [
            {"index": index, "report_id": r.report_id, "problems": list(r.problems)}
            for index, r in rejections
        ]
        return Outcome(status, error_body(code, reports=details), rejected={code: len(details)})

    async def _dead_letter(self, rejections: list[Rejection], source: str, now: datetime) -> None:
        """Write the dead letters and wait for them: the caller is told they were recorded."""
        futures = await asyncio.to_thread(
            lambda: [
                self.writer.send_rejection(r, stage=Stage.INTAKE, source=source, at=now)
                for r in rejections
            ]
        )
        acknowledgement = BatchAcknowledgement(asyncio.get_running_loop(), futures)
        try:
            await asyncio.wait_for(asyncio.shield(acknowledgement.done), self.ack_timeout_s)
        except TimeoutError:
            log.error("dead letters not acknowledged in time", count=len(rejections))
        if acknowledgement.failures:
            log.error("dead letters refused", error=str(acknowledgement.failures[0]))


def _outside_scope(item: Checked, raw: bytes, grant: TokenGrant) -> Rejection:
    allowed = ", ".join(grant.regencies)
    message = f"unit {grant.unit!r} may report for {allowed} only, not {item.district}"
    return Rejection(
        Reason.UNAUTHORIZED_AREA,
        (problem("district", message, "unauthorized_area"),),
        raw,
        report_id=item.report_id,
        district=item.district,
    )


def _conflict(item: Checked, raw: bytes) -> Rejection:
    message = f"report_id {item.report_id!r} was already accepted with different content"
    return Rejection(
        Reason.CONFLICTING_DUPLICATE,
        (problem("report_id", message, "conflicting_duplicate"),),
        raw,
        report_id=item.report_id,
        district=item.district,
    )


def server_now() -> datetime:
    """received_at is stamped in UTC: unambiguous whatever province the intake serves."""
    return datetime.now(UTC)
