"""The indexer's consume loop: poll, plan, batch, hand over for delivery, commit.

The loop runs on an asyncio event loop with an aiokafka consumer (the group protocol, the
heartbeats and the fetches run as tasks on the same loop). Delivery threads send batches to
Elasticsearch while the next batch is being read and parsed: up to ``max_in_flight_batches``
at once (1 by default: on a small node two bulks at once only contend for its cores). Offsets are
committed in batch order, and only up to the last batch that was delivered completely with
every batch before it. Writes may land out of order across batches: reports are idempotent by
id, status and alerts carry external versions. While the deliveries are slow or retrying and the
next batch is full, every assigned partition is paused: the consumer keeps polling (so it stays
in its group) but reads nothing more.

kafka-python 3.0's group consumer was seen to stop rejoining its group after a rebalance (no
assignment, no error, for good); aiokafka, which the Faust worker uses too, does not.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from sinks.indexer.delivery import Deliverer, DeliveryReport
from sinks.indexer.metrics import IndexerMetrics
from sinks.indexer.records import PlanContext, Planned, Position, TopicKind, plan_record
from sinks.settings import IndexerSettings
from sitrep.tracing import NOOP, Tracing, header_traceparent

log = structlog.get_logger("sinks.indexer")

LAG_INTERVAL_S = 1.0
# getmany waits for a rebalance to finish whatever its timeout; bound it so the loop still
# turns (stop requests, the stall watchdog's heartbeat, settling a finished delivery).
POLL_GRACE_S = 1.0


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
    future: asyncio.Future[DeliveryReport]
    offsets: dict[tuple[str, int], int]
    records: int
    stale: bool = False  # partitions were revoked meanwhile: its offsets must not be committed


class Indexer:
    def __init__(
        self,
        settings: IndexerSettings,
        consumer: Any,  # aiokafka.AIOKafkaConsumer, started, not yet subscribed
        deliverer: Deliverer,
        topics: Mapping[str, TopicKind],
        context: PlanContext,
        metrics: IndexerMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tracing: Tracing = NOOP,
    ) -> None:
        self._settings = settings
        self._tracing = tracing
        self._consumer = consumer
        self._deliverer = deliverer
        self._topics = dict(topics)
        self._context = context
        self._metrics = metrics
        self._clock = clock
        self._batch = Batch(BatchPolicy.from_settings(settings))
        self._inflight: deque[_InFlight] = deque()
        self._max_in_flight = settings.max_in_flight_batches
        self._paused = False
        self._committed: dict[tuple[str, int], int] = {}
        self._next_lag_at = 0.0
        self._executor: ThreadPoolExecutor | None = None

    # --- the loop ----------------------------------------------------------------------------

    async def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then deliver and commit what was read (if possible)."""
        indexer = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Any) -> None:
                indexer._on_revoked(revoked)

            async def on_partitions_assigned(self, assigned: Any) -> None:
                indexer._on_assigned(assigned)

        self._consumer.subscribe(topics=list(self._topics), listener=Listener())
        self._executor = ThreadPoolExecutor(
            self._max_in_flight, thread_name_prefix="sitrep-indexer-delivery"
        )
        log.info("indexer running", topics=sorted(self._topics))
        try:
            while not stop.is_set():
                await self._step()
            await self._drain()
        finally:
            self._executor.shutdown(wait=True)
            log.info("indexer stopped")

    async def _step(self) -> None:
        self._metrics.loop_heartbeat.set_to_current_time()
        now = time.monotonic()
        finished = self._take_finished()
        if len(self._inflight) < self._max_in_flight and self._batch.due(now):
            self._submit()  # first, so Elasticsearch is not idle while we commit
        if finished:
            await self._settle(finished)
        full = len(self._inflight) >= self._max_in_flight
        self._set_paused(full and self._batch.full)
        if full and self._paused:
            # Nothing to read until a delivery is done: wait for it instead of spinning.
            await asyncio.wait([self._inflight[0].future], timeout=0.05)
            timeout_s = 0.0
        elif full and self._batch.due(now):
            timeout_s = 0.02  # keep filling the next batch while the deliveries run
        elif self._batch.items:
            timeout_s = self._batch.seconds_until_due(now)
        else:
            timeout_s = 0.1
        # Never read more than fits: a batch holds at most bulk_max_actions records.
        room = max(1, self._batch.policy.max_actions - self._batch.actions)
        try:
            polled = await asyncio.wait_for(
                self._consumer.getmany(
                    timeout_ms=int(timeout_s * 1000),
                    max_records=min(room, self._settings.max_poll_records),
                ),
                timeout_s + POLL_GRACE_S,
            )
        except TimeoutError:
            return  # a rebalance is under way; nothing was taken from the consumer
        # getmany hands over records of the current assignment only, and nothing can run
        # between its return and here: a revocation cannot slip in between.
        received = time.monotonic()
        at = self._clock()
        traced = self._tracing.enabled
        for tp, records in polled.items():
            kind = self._topics[tp.topic]
            for record in records:
                position = Position(tp.topic, tp.partition, record.offset, record.key)
                planned = plan_record(kind, position, record.value, self._context, at)
                if traced and kind is TopicKind.REPORTS and planned.actions:
                    traceparent = header_traceparent(record.headers)
                    if traceparent is not None:
                        planned = replace(planned, traceparent=traceparent)
                self._batch.add(planned, received)
        if received >= self._next_lag_at:
            self._next_lag_at = received + LAG_INTERVAL_S
            await self._update_lag()

    def _submit(self) -> None:
        assert self._executor is not None
        items = self._batch.take()
        self._metrics.batch_size.observe(len(items))
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self._deliverer.deliver, items
        )
        if self._tracing.enabled:
            # One span per traced report, child of its intake span, from the bulk's start
            # to its end (the bulk of the whole batch: that is when the report is indexed).
            traceparents = [p.traceparent for p in items if p.traceparent is not None]
            spans = self._tracing.start_spans("indexer.index", traceparents)
            if spans:
                future.add_done_callback(lambda _done: self._tracing.end_spans(spans))
        self._inflight.append(_InFlight(future, next_offsets(items), len(items)))

    def _take_finished(self) -> list[_InFlight]:
        """The finished batches at the head of the queue, oldest first (commit order)."""
        finished: list[_InFlight] = []
        while self._inflight and self._inflight[0].future.done():
            finished.append(self._inflight.popleft())
        return finished

    async def _settle(self, finished: Sequence[_InFlight]) -> None:
        """Commit the offsets of delivered batches, in order, up to the first that was not
        delivered (only when stopping), and none of a batch whose partitions were revoked."""
        offsets: dict[tuple[str, int], int] = {}
        for inflight in finished:
            if not inflight.future.result().completed:
                log.warning(
                    "batch not delivered; its records will be read again",
                    records=inflight.records,
                )
                for later in self._inflight:
                    later.stale = True  # committing past the gap would skip its records
                break
            if not inflight.stale:
                for key, offset in inflight.offsets.items():
                    offsets[key] = max(offsets.get(key, 0), offset)
        if offsets:
            await self._commit(offsets)

    async def _drain(self) -> None:
        if self._batch.items:
            self._submit()
        if self._inflight:
            await asyncio.wait([inflight.future for inflight in self._inflight])
            await self._settle(self._take_finished())

    # --- Kafka -------------------------------------------------------------------------------

    async def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit after delivery. A failure (typically a rebalance under way) only means the
        records are read again and rewritten idempotently."""
        request = {
            TopicPartition(topic, partition): offset
            for (topic, partition), offset in offsets.items()
        }
        try:
            await self._consumer.commit(request)
        except KafkaError as exc:
            log.warning("offset commit failed; records will be re-indexed", error=str(exc))
        else:
            self._committed.update(offsets)

    def _set_paused(self, paused: bool) -> None:
        """Bring the consumer's paused partitions in line with ``paused``. Compared with what
        the consumer reports, not with our last call: partitions assigned by a rebalance start
        unpaused, and partitions assigned while paused must be paused too."""
        held = self._consumer.paused()
        if paused:
            missing = self._consumer.assignment() - held
            if missing:
                self._consumer.pause(*missing)
        elif held:
            self._consumer.resume(*held)
        if paused != self._paused:  # routine under load: the paused gauge shows it too
            log.debug(
                "consumer paused until elasticsearch catches up" if paused else "consumer resumed"
            )
        self._paused = paused
        self._metrics.paused.set(1 if paused else 0)

    def _on_revoked(self, revoked: Any) -> None:
        """Rebalance listener, before the group is rejoined. Records read but not delivered
        are dropped, and a delivery still in flight completes but its offsets are not
        committed: whoever is assigned the partitions next reads them again from the
        committed offsets (aiokafka starts every assigned partition there). Some may be
        indexed twice, which the idempotent writes absorb; none is skipped."""
        for inflight in self._inflight:
            inflight.stale = True
        dropped = len(self._batch.take())
        self._committed.clear()
        log.info("partitions revoked", partitions=len(revoked), dropped_unsent=dropped)

    def _on_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned", partitions=len(assigned))

    async def _update_lag(self) -> None:
        # Highwater marks first, without awaiting: a rebalance can only come between awaits.
        highs = {
            (tp.topic, tp.partition): high
            for tp in self._consumer.assignment()
            if (high := self._consumer.highwater(tp)) is not None
        }
        lag: dict[str, int] = dict.fromkeys(self._topics, 0)
        try:
            for key, high in highs.items():
                if key not in self._committed:
                    committed = await self._consumer.committed(TopicPartition(*key))
                    self._committed[key] = committed or 0
                lag[key[0]] += max(0, high - self._committed[key])
        except KafkaError as exc:
            log.debug("lag not available", error=str(exc))
            return
        for topic, value in lag.items():
            self._metrics.consumer_lag.labels(topic=topic).set(value)
