"""The indexer's consume loop: poll, plan, batch, hand over for delivery, commit.

Threads: this loop owns the (not thread-safe) Kafka consumer; one delivery thread sends a
batch to Elasticsearch while the next batch is being read and parsed. Batches are delivered one
at a time, in order, and a batch's offsets are committed only after it was delivered completely.
While a delivery is slow or retrying and the next batch is full, every assigned partition is
paused: the consumer keeps polling (so it stays in its group) but reads nothing more.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from sinks.indexer.delivery import Deliverer, DeliveryReport
from sinks.indexer.metrics import IndexerMetrics
from sinks.indexer.records import PlanContext, Planned, Position, TopicKind, plan_record
from sinks.settings import IndexerSettings

log = structlog.get_logger("sinks.indexer")

LAG_INTERVAL_S = 1.0


@dataclass(frozen=True)
class BatchPolicy:
    max_actions: int
    max_bytes: int
    max_age_s: float

    @classmethod
    def from_settings(cls, settings: IndexerSettings) -> BatchPolicy:
        return cls(
            settings.bulk_max_actions, settings.bulk_max_bytes, settings.flush_interval_ms / 1000
        )


@dataclass
class Batch:
    """Records waiting for delivery; due by count, bytes or the age of its oldest record."""

    policy: BatchPolicy
    items: list[Planned] = field(default_factory=list)
    actions: int = 0
    size: int = 0
    started: float | None = None

    def add(self, planned: Planned, now: float) -> None:
        if self.started is None:
            self.started = now
        self.items.append(planned)
        self.actions += max(1, len(planned.actions))
        self.size += planned.size

    @property
    def full(self) -> bool:
        return self.actions >= self.policy.max_actions or self.size >= self.policy.max_bytes

    def due(self, now: float) -> bool:
        if not self.items:
            return False
        assert self.started is not None
        return self.full or now - self.started >= self.policy.max_age_s

    def seconds_until_due(self, now: float) -> float:
        if self.started is None:
            return self.policy.max_age_s
        return max(0.0, self.started + self.policy.max_age_s - now)

    def take(self) -> list[Planned]:
        items = self.items
        self.items, self.actions, self.size, self.started = [], 0, 0, None
        return items


def next_offsets(batch: Sequence[Planned]) -> dict[tuple[str, int], int]:
    """Per partition, the offset to commit after this batch: last offset + 1."""
    offsets: dict[tuple[str, int], int] = {}
    for planned in batch:
        key = (planned.position.topic, planned.position.partition)
        offsets[key] = max(offsets.get(key, 0), planned.position.offset + 1)
    return offsets


@dataclass
class _InFlight:
    future: Future[DeliveryReport]
    offsets: dict[tuple[str, int], int]
    records: int
    stale: bool = False  # partitions were revoked meanwhile: its offsets must not be committed


class Indexer:
    def __init__(
        self,
        settings: IndexerSettings,
        consumer: Any,  # kafka.KafkaConsumer (untyped)
        deliverer: Deliverer,
        topics: Mapping[str, TopicKind],
        context: PlanContext,
        metrics: IndexerMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._consumer = consumer
        self._deliverer = deliverer
        self._topics = dict(topics)
        self._context = context
        self._metrics = metrics
        self._clock = clock
        self._batch = Batch(BatchPolicy.from_settings(settings))
        self._inflight: _InFlight | None = None
        self._paused = False
        self._committed: dict[tuple[str, int], int] = {}
        self._next_lag_at = 0.0
        self._executor: ThreadPoolExecutor | None = None
        # Written by the rebalance listener on kafka-python's IO thread, read by the loop.
        self._revocations = 0
        self._assignments = 0
        self._joined = False
        self._rewind_pending = False

    # --- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then deliver and commit what was read (if possible)."""
        from kafka import ConsumerRebalanceListener

        indexer = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                indexer._on_revoked(revoked)

            def on_partitions_assigned(self, assigned: Any) -> None:
                indexer._on_assigned(assigned)

        # Know every topic's partitions before the first join; otherwise the group first joins
        # with empty metadata and rebalances again as soon as it arrives.
        for topic in self._topics:
            self._consumer.partitions_for_topic(topic)
        self._consumer.subscribe(topics=list(self._topics), listener=Listener())
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sitrep-indexer-delivery")
        log.info("indexer running", topics=sorted(self._topics))
        try:
            while not stop.is_set():
                self._step()
            self._drain()
        finally:
            self._executor.shutdown(wait=True)
            log.info("indexer stopped")

    def _step(self) -> None:
        self._metrics.loop_heartbeat.set_to_current_time()
        now = time.monotonic()
        finished = self._take_finished(block=False)
        if self._inflight is None and self._batch.due(now):
            self._submit()  # first, so Elasticsearch is not idle while we commit
        if finished is not None:
            self._settle(finished, sync=False)
        busy = self._inflight is not None
        if self._joined:
            # Never pause or resume while a join is under way: the partitions may just have
            # been revoked, and touching them then has been seen to hang kafka-python's poll.
            self._set_paused(busy and self._batch.full)
        if self._inflight is not None and self._paused:
            # Nothing to read until the delivery is done: wait for it instead of spinning
            # (a busy loop would take the GIL from the delivery thread).
            wait([self._inflight.future], timeout=0.05)
            timeout_s = 0.0
        elif busy and self._batch.due(now):
            timeout_s = 0.02  # keep filling the next batch while the delivery runs
        elif self._batch.items:
            timeout_s = self._batch.seconds_until_due(now)
        elif not self._consumer.assignment():
            timeout_s = 1.0  # joining: give the group round trips time to finish in one poll
        else:
            timeout_s = 0.1
        # Never read more than fits: a batch holds at most bulk_max_actions records.
        room = max(1, self._batch.policy.max_actions - self._batch.actions)
        rebalances = (self._revocations, self._assignments)
        polled = self._consumer.poll(
            timeout_ms=int(timeout_s * 1000),
            max_records=min(room, self._settings.max_poll_records),
        )
        if (self._revocations, self._assignments) != rebalances:
            if self._revocations != rebalances[0]:
                self._forget_unsent()
            self._rewind_pending = True
            return  # what this poll returned is read again from the committed offsets
        if self._rewind_pending:
            if self._joined:
                self._rewind()
            return  # read before the rewind: read again
        received = time.monotonic()
        at = self._clock()
        for tp, records in polled.items():
            kind = self._topics[tp.topic]
            for record in records:
                position = Position(tp.topic, tp.partition, record.offset, record.key)
                planned = plan_record(kind, position, record.value, self._context, at)
                self._batch.add(planned, received)
        if received >= self._next_lag_at and self._joined:
            self._next_lag_at = received + LAG_INTERVAL_S
            self._update_lag()

    def _submit(self) -> None:
        assert self._executor is not None
        items = self._batch.take()
        self._metrics.batch_size.observe(len(items))
        future = self._executor.submit(self._deliverer.deliver, items)
        self._inflight = _InFlight(future, next_offsets(items), len(items))

    def _take_finished(self, block: bool) -> _InFlight | None:
        inflight = self._inflight
        if inflight is None or (not block and not inflight.future.done()):
            return None
        wait([inflight.future])
        self._inflight = None
        return inflight

    def _settle(self, inflight: _InFlight, sync: bool) -> None:
        """Commit a delivered batch's offsets (unless its partitions were revoked meanwhile)."""
        report = inflight.future.result()
        if report.completed and not inflight.stale:
            self._commit(inflight.offsets, sync)
        elif not report.completed:
            log.warning(
                "batch not delivered; its records will be read again", records=inflight.records
            )

    def _drain(self) -> None:
        finished = self._take_finished(block=True)
        if finished is not None:
            self._settle(finished, sync=True)
        if self._batch.items:
            self._submit()
            last = self._take_finished(block=True)
            if last is not None:
                self._settle(last, sync=True)

    # --- Kafka -------------------------------------------------------------------------------

    def _commit(self, offsets: dict[tuple[str, int], int], sync: bool) -> None:
        """Synchronous at shutdown; asynchronous in the loop (acknowledged on a later poll), so
        the next batch is not held up by the round trip."""
        from kafka import TopicPartition
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        request = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in offsets.items()
        }

        def done(_: object, outcome: object) -> None:
            if isinstance(outcome, Exception):
                # Typically a rebalance: the records are read again and rewritten idempotently.
                log.warning("offset commit failed; records will be re-indexed", error=str(outcome))
            else:
                self._committed.update(offsets)

        if not sync:
            self._consumer.commit_async(offsets=request, callback=done)
            return
        try:
            self._consumer.commit(offsets=request)
        except KafkaError as exc:
            done(None, exc)
        else:
            done(None, None)

    def _set_paused(self, paused: bool) -> None:
        """Bring the consumer's paused partitions in line with ``paused``. Compared with what
        the consumer reports, not with our last call: a rebalance can hand back partitions
        paused or unpaused, and partitions assigned while paused must be paused too."""
        held = self._consumer.paused()
        if paused:
            missing = self._consumer.assignment() - held
            if missing:
                self._consumer.pause(*missing)
        elif held:
            self._consumer.resume(*held)
        if paused != self._paused:
            log.info(
                "consumer paused until elasticsearch catches up" if paused else "consumer resumed"
            )
        self._paused = paused
        self._metrics.paused.set(1 if paused else 0)

    def _on_revoked(self, revoked: Any) -> None:
        """Rebalance listener. kafka-python 3 runs it on its IO thread, in the middle of the
        group join, where nothing may block or talk to the coordinator: it only takes note;
        the loop acts after its poll, once the join is complete."""
        self._joined = False
        self._revocations += 1
        log.info("partitions revoked", partitions=len(revoked))

    def _on_assigned(self, assigned: Any) -> None:
        """Rebalance listener (IO thread, see ``_on_revoked``)."""
        self._assignments += 1
        self._joined = True
        log.info("partitions assigned", partitions=len(assigned))

    def _forget_unsent(self) -> None:
        """After a revocation: records read but not delivered are dropped, and a delivery
        still in flight completes but its offsets are not committed; all of them are read
        again from the committed offsets. Some may be indexed twice, which the idempotent
        writes absorb; none is skipped."""
        if self._inflight is not None:
            self._inflight.stale = True
        dropped = len(self._batch.take())
        self._committed.clear()
        log.info("rebalancing; unsent records will be read again", dropped_unsent=dropped)

    def _rewind(self) -> None:
        """Once the group join is complete, rewind every partition we hold to its committed
        offset: kafka-python keeps the fetch position of partitions that stay with this member,
        so records dropped by ``_forget_unsent`` would otherwise be skipped."""
        for tp in self._consumer.assignment():
            committed = self._consumer.committed(tp)
            if committed is None:
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)
        self._rewind_pending = False
        log.info("rebalanced; reading again from the committed offsets")

    def _update_lag(self) -> None:
        from kafka.errors import KafkaError

        lag: dict[str, int] = dict.fromkeys(self._topics, 0)
        try:
            for tp in self._consumer.assignment():
                high = self._consumer.highwater(tp)
                if high is None:
                    continue
                key = (tp.topic, tp.partition)
                if key not in self._committed:
                    committed = self._consumer.committed(tp)
                    self._committed[key] = committed or 0
                lag[tp.topic] += max(0, high - self._committed[key])
        except KafkaError as exc:
            log.debug("lag not available", error=str(exc))
            return
        for topic, value in lag.items():
            self._metrics.consumer_lag.labels(topic=topic).set(value)
