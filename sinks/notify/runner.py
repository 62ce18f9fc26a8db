"""The notifier: consume ``sitrep.alerts``, decide, hand to one worker per channel, record.

Threads:
- the consume loop (``Notifier.run``) owns the alerts consumer: it parses each record, updates
  the index of active alerts, plans the notifications (``policy``), skips keys already done,
  queues the rest on their channel, and commits offsets whose notifications are all final;
- one ``ChannelWorker`` per channel: attempts with jittered exponential backoff, a delivery
  record per attempt; a slow or dead channel only delays its own queue (and the commit);
- ``SilenceFollower`` keeps the compacted ``sitrep.silences`` topic in memory.

The notifier reads every partition of ``sitrep.alerts`` itself (manual assignment, the group id
only stores offsets): hierarchy suppression needs to see provincial and regency alerts alike.
Run one instance; a supervisor restarts it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import structlog
from pydantic import ValidationError

from schemas.alert import Alert, Silence
from schemas.delivery import DONE_STATUSES, Delivery, DeliveryStatus
from sinks.notify.channels import Sender, SendError, build_sender
from sinks.notify.config import ResolvedChannel
from sinks.notify.metrics import NotifyMetrics
from sinks.notify.policy import (
    ActiveIndex,
    ChannelPolicy,
    Decision,
    Notification,
    Outcome,
    backoff_delay,
    plan_notifications,
)
from sinks.notify.render import Lang, render
from sinks.notify.tracker import OffsetTracker
from sitrep.settings import Settings

__all__ = ["DeliveryWriter", "Notifier", "SilenceFollower", "read_done_keys"]

log = structlog.get_logger("sinks.notify")

POLL_TIMEOUT_MS: Final = 100
LAG_INTERVAL_S: Final = 2.0
FINAL_RECORD_TIMEOUT_S: Final = 30.0


def now_utc() -> datetime:
    return datetime.now(UTC)


# --- reading a topic range ------------------------------------------------------------------------


def _partitions(consumer: Any, topic: str) -> list[Any]:
    from kafka import TopicPartition

    partitions = None
    deadline = time.monotonic() + 30
    while not partitions:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} does not exist (run `sitrep topics create`)")
        time.sleep(0.2)
    return [TopicPartition(topic, p) for p in sorted(partitions)]


def _offsets_since(consumer: Any, tps: list[Any], since: datetime) -> dict[Any, int]:
    """First offset at or after ``since`` per partition (the end if there is none)."""
    found = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
    ends = consumer.end_offsets(tps)
    return {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}


def read_range(
    consumer: Any,
    starts: Mapping[Any, int],
    ends: Mapping[Any, int],
    handle: Callable[[Any], None],
) -> int:
    """Read each partition from ``starts`` up to (not including) ``ends``; returns the count."""
    todo = {tp: end for tp, end in ends.items() if end > starts[tp]}
    if not todo:
        return 0
    consumer.assign(list(todo))
    for tp in todo:
        consumer.seek(tp, starts[tp])
    count = 0
    while todo:
        for tp, records in consumer.poll(timeout_ms=500).items():
            for record in records:
                if tp in todo and record.offset < todo[tp]:
                    handle(record)
                    count += 1
        for tp in list(todo):
            if consumer.position(tp) >= todo[tp]:
                del todo[tp]
        if todo:
            consumer.pause(*[tp for tp in consumer.assignment() if tp not in todo])
    return count


def read_done_keys(consumer: Any, topic: str, since: datetime) -> set[str]:
    """Notification keys with a final record (delivered, silenced, suppressed) since ``since``."""
    tps = _partitions(consumer, topic)
    starts = _offsets_since(consumer, tps, since)
    ends = consumer.end_offsets(tps)
    done: set[str] = set()
    done_values = {status.value for status in DONE_STATUSES}

    def handle(record: Any) -> None:
        if record.value is None:
            return
        try:
            delivery = Delivery.model_validate_json(record.value)
        except ValidationError as exc:
            log.warning("unreadable delivery record", offset=record.offset, error=str(exc)[:200])
            return
        if delivery.status.value in done_values:
            done.add(delivery.notification_key)

    read = read_range(consumer, starts, ends, handle)
    log.info("delivery records read back", records=read, done_keys=len(done))
    return done


# --- silences -------------------------------------------------------------------------------------


class SilenceFollower:
    """The compacted silences topic in memory: read to its end at start, then followed."""

    def __init__(self, consumer: Any, topic: str, metrics: NotifyMetrics | None = None) -> None:
        self._consumer = consumer
        self._topic = topic
        self._metrics = metrics
        self._lock = threading.Lock()
        self._silences: dict[str, Silence] = {}
        self._thread: threading.Thread | None = None

    def current(self) -> list[Silence]:
        with self._lock:
            return list(self._silences.values())

    def _apply(self, record: Any) -> None:
        key = record.key.decode() if record.key else None
        if record.value is None:
            if key is not None:
                with self._lock:
                    self._silences.pop(key, None)
            return
        try:
            silence = Silence.model_validate_json(record.value)
        except ValidationError as exc:
            log.warning("invalid silence ignored", key=key, error=str(exc)[:300])
            return
        with self._lock:
            self._silences[key or silence.silence_id] = silence

    def catch_up(self) -> None:
        """Read the whole topic as it is now (before any alert is notified)."""
        tps = _partitions(self._consumer, self._topic)
        self._consumer.assign(tps)
        self._consumer.seek_to_beginning(*tps)
        starts = {tp: self._consumer.position(tp) for tp in tps}
        read_range(self._consumer, starts, self._consumer.end_offsets(tps), self._apply)
        self._consumer.assign(tps)  # read_range may have paused some: follow all again
        self._count()
        log.info("silences loaded", silences=len(self._silences))

    def _count(self) -> None:
        if self._metrics is not None:
            with self._lock:
                self._metrics.silences.set(len(self._silences))

    def follow(self, stop: threading.Event) -> None:
        def loop() -> None:
            while not stop.is_set():
                try:
                    for records in self._consumer.poll(timeout_ms=500).values():
                        for record in records:
                            self._apply(record)
                except Exception as exc:  # keep following: a broker hiccup is not fatal
                    log.warning("silences poll failed", error=str(exc))
                    stop.wait(1.0)
                self._count()
            self._consumer.close()

        self._thread = threading.Thread(target=loop, name="sitrep-notify-silences", daemon=True)
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)


# --- delivery records -----------------------------------------------------------------------------


class DeliveryWriter:
    """Writes delivery records (key = notification key) with an acks=all idempotent producer."""

    def __init__(self, producer: Any, topic: str, metrics: NotifyMetrics) -> None:
        self._producer = producer
        self._topic = topic
        self._metrics = metrics

    def write(self, delivery: Delivery) -> Any:
        self._metrics.deliveries.labels(
            channel=delivery.channel, status=delivery.status.value
        ).inc()
        return self._producer.send(
            self._topic,
            key=delivery.notification_key.encode(),
            value=delivery.model_dump_json(exclude_none=True).encode(),
        )

    def write_and_wait(self, delivery: Delivery) -> bool:
        """Final records: wait for the acknowledgement (only then is the key done)."""
        from kafka.errors import KafkaError

        try:
            self.write(delivery).get(timeout=FINAL_RECORD_TIMEOUT_S)
        except KafkaError as exc:
            log.error(
                "delivery record not written; the notification will be retried after a restart",
                notification_key=delivery.notification_key,
                error=str(exc),
            )
            return False
        return True

    def flush(self, timeout_s: float | None = None) -> None:
        self._producer.flush(timeout=timeout_s)


def make_delivery(
    notification: Notification,
    status: DeliveryStatus,
    attempt: int,
    at: datetime,
    *,
    error: str | None = None,
    http_status: int | None = None,
    silence_id: str | None = None,
    suppressed_by: str | None = None,
) -> Delivery:
    alert = notification.alert
    latency_ms = max(0.0, (at - alert.updated_at).total_seconds() * 1000)
    return Delivery(
        notification_key=notification.key,
        alert_id=alert.alert_id,
        rule_id=alert.rule_id,
        channel=notification.channel,
        recipients=notification.recipients,
        state=alert.state,
        tier=alert.tier,
        change=alert.change,
        attempt=attempt,
        status=status,
        error=error[:2000] if error else None,
        http_status=http_status,
        at=at,
        latency_ms=round(latency_ms, 3),
        silence_id=silence_id,
        suppressed_by=suppressed_by,
    )


# --- keys ----------------------------------------------------------------------------------------


class KeyBook:
    """Notification keys done (never again) and in flight (queued or being attempted)."""

    def __init__(self, done: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._done = set(done)
        self._inflight: set[str] = set()

    def claim(self, key: str) -> str:
        """``done``, ``inflight`` (someone has it) or ``claimed`` (now it is the caller's)."""
        with self._lock:
            if key in self._done:
                return "done"
            if key in self._inflight:
                return "inflight"
            self._inflight.add(key)
            return "claimed"

    def release(self, key: str, done: bool) -> None:
        with self._lock:
            self._inflight.discard(key)
            if done:
                self._done.add(key)

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self._done), len(self._inflight)


# --- channel workers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_s: float
    max_s: float


class ChannelWorker:
    """One channel's queue and thread: attempts in order, retries with backoff."""

    def __init__(
        self,
        name: str,
        sender: Sender,
        retry: RetryPolicy,
        writer: DeliveryWriter,
        on_final: Callable[[str, bool], None],
        metrics: NotifyMetrics,
        zone: ZoneInfo,
        lang: Lang,
        abort: threading.Event,
    ) -> None:
        self.name = name
        self._sender = sender
        self._retry = retry
        self._writer = writer
        self._on_final = on_final
        self._metrics = metrics
        self._zone = zone
        self._lang = lang
        self._abort = abort
        self._queue: queue.Queue[Notification | None] = queue.Queue()
        self._busy = 0  # queued + in delivery
        self._busy_lock = threading.Lock()
        self._log = log.bind(channel=name)
        self._thread = threading.Thread(
            target=self._loop, name=f"sitrep-notify-{name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def submit(self, notification: Notification) -> None:
        with self._busy_lock:
            self._busy += 1
            self._metrics.queue_depth.labels(channel=self.name).set(self._busy)
        self._queue.put(notification)

    @property
    def busy(self) -> int:
        with self._busy_lock:
            return self._busy

    def close(self, timeout_s: float) -> None:
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._sender.close()

    def _loop(self) -> None:
        while True:
            notification = self._queue.get()
            if notification is None:
                return
            try:
                if not self._abort.is_set():
                    self._deliver(notification)
            except Exception:  # a bug must not kill the channel; the key stays uncommitted
                self._log.exception("notification worker error", notification_key=notification.key)
            finally:
                with self._busy_lock:
                    self._busy -= 1
                    self._metrics.queue_depth.labels(channel=self.name).set(self._busy)

    def _deliver(self, notification: Notification) -> None:
        log_ = self._log.bind(
            notification_key=notification.key, alert_id=notification.alert.alert_id
        )
        rendered = render(notification, self._zone, self._lang)
        progress: set[str] = set()
        for attempt in range(1, self._retry.max_attempts + 1):
            started = time.monotonic()
            try:
                result = self._sender.send(notification, rendered, progress)
            except SendError as exc:
                error: SendError | None = exc
            except Exception as exc:
                error = SendError(f"{type(exc).__name__}: {exc}", retryable=True)
            else:
                error = None
            self._metrics.attempt_seconds.labels(channel=self.name).observe(
                time.monotonic() - started
            )
            at = now_utc()
            if error is None:
                delivery = make_delivery(
                    notification,
                    DeliveryStatus.DELIVERED,
                    attempt,
                    at,
                    http_status=result.http_status,
                )
                self._writer.write_and_wait(delivery)  # logs if it could not be written
                self._metrics.latency.labels(channel=self.name).observe(
                    max(0.0, (at - notification.alert.updated_at).total_seconds())
                )
                log_.info("delivered", attempt=attempt, latency_ms=delivery.latency_ms)
                self._on_final(notification.key, True)
                return
            last = attempt >= self._retry.max_attempts or not error.retryable
            status = DeliveryStatus.FAILED if last else DeliveryStatus.RETRYING
            delivery = make_delivery(
                notification, status, attempt, at, error=str(error), http_status=error.http_status
            )
            if last:
                self._writer.write_and_wait(delivery)
                log_.error("delivery failed", attempt=attempt, error=str(error))
                # Final for the commit, but not "done": a later record with this key tries again.
                self._on_final(notification.key, False)
                return
            self._writer.write(delivery)
            delay = backoff_delay(attempt, self._retry.base_s, self._retry.max_s)
            log_.warning(
                "delivery attempt failed; retrying",
                attempt=attempt,
                error=str(error),
                retry_in_s=round(delay, 2),
            )
            if self._abort.wait(delay):
                return  # shutting down: not final, the record is read again after restart


# --- the consume loop -----------------------------------------------------------------------------


class Notifier:
    def __init__(
        self,
        settings: Settings,
        channels: Mapping[str, ResolvedChannel],
        consumer: Any,
        writer: DeliveryWriter,
        silences: SilenceFollower,
        done_keys: Iterable[str],
        metrics: NotifyMetrics,
        senders: Mapping[str, Sender] | None = None,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._settings = settings
        self._cfg = settings.notify
        self._topic = settings.kafka.topics.alerts
        self._consumer = consumer
        self._writer = writer
        self._silences = silences
        self._metrics = metrics
        self._clock = clock
        self._keys = KeyBook(done_keys)
        self._tracker = OffsetTracker()
        self._handoff = threading.Lock()
        self._index = ActiveIndex()
        self._abort = threading.Event()
        self._policies = {
            name: ChannelPolicy(frozenset(ch.config.notify_on), ch.config.default_recipients)
            for name, ch in channels.items()
        }
        retry = RetryPolicy(
            self._cfg.max_attempts, self._cfg.retry_base_ms / 1000, self._cfg.retry_max_ms / 1000
        )
        zone = ZoneInfo(settings.timezone)
        senders = dict(senders or {})
        self._workers = {
            name: ChannelWorker(
                name,
                senders.get(name) or build_sender(channel, self._cfg.attempt_timeout_s),
                retry,
                writer,
                self._final,
                metrics,
                zone,
                self._cfg.language,
                self._abort,
            )
            for name, channel in channels.items()
        }
        self._committed: dict[int, int] = {}
        self._tps: list[Any] = []
        self._paused = False
        self.last_turn = time.time()

    # --- start ---------------------------------------------------------------------------------

    def _start_positions(self) -> dict[Any, int]:
        since = self._clock() - timedelta(days=self._cfg.lookback_days)
        fallback = _offsets_since(self._consumer, self._tps, since)
        positions = {}
        for tp in self._tps:
            committed = self._consumer.committed(tp)
            positions[tp] = committed if committed is not None else fallback[tp]
        return positions

    def bootstrap_index(self, reader: Any, positions: Mapping[Any, int]) -> None:
        """Rebuild the active-alert index from the look-back window up to the start positions,
        so suppression after a restart knows the provincial alerts still firing."""
        from kafka import TopicPartition

        since = self._clock() - timedelta(days=self._cfg.lookback_days)
        tps = [TopicPartition(tp.topic, tp.partition) for tp in positions]
        starts = _offsets_since(reader, tps, since)
        starts = {tp: min(starts[tp], positions[tp]) for tp in tps}

        def handle(record: Any) -> None:
            try:
                self._index.apply(Alert.model_validate_json(record.value))
            except (ValidationError, TypeError):
                return

        read = read_range(reader, starts, dict(positions), handle)
        log.info("active alerts rebuilt", records=read, active=len(self._index.alerts))

    def prepare(self) -> dict[Any, int]:
        self._tps = _partitions(self._consumer, self._topic)
        self._consumer.assign(self._tps)
        positions = self._start_positions()
        for tp, offset in positions.items():
            self._consumer.seek(tp, offset)
            self._tracker.start(tp.partition, offset)
            self._committed[tp.partition] = offset
        return positions

    # --- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        for worker in self._workers.values():
            worker.start()
        log.info("notifier running", topic=self._topic, channels=sorted(self._workers))
        next_commit = next_lag = 0.0
        try:
            while not stop.is_set():
                self.last_turn = time.time()
                self._metrics.loop_heartbeat.set(self.last_turn)
                self._set_paused(self._inflight() >= self._cfg.max_pending)
                polled = self._consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=500)
                for tp, records in polled.items():
                    for record in records:
                        self._handle(tp.partition, record)
                now = time.monotonic()
                if now >= next_commit:
                    next_commit = now + self._cfg.commit_interval_ms / 1000
                    self._commit()
                if now >= next_lag:
                    next_lag = now + LAG_INTERVAL_S
                    self._update_lag()
        finally:
            self._drain()

    def _inflight(self) -> int:
        return sum(worker.busy for worker in self._workers.values())

    def _handle(self, partition: int, record: Any) -> None:
        try:
            if record.value is None:
                raise ValueError("null value")
            alert = Alert.model_validate_json(record.value)
        except (ValidationError, ValueError) as exc:
            # The indexer dead-letters invalid alert records; here they are only skipped.
            self._metrics.alerts.labels(outcome="invalid").inc()
            log.error(
                "invalid alert record skipped",
                partition=partition,
                offset=record.offset,
                error=str(exc)[:500],
            )
            self._tracker.record(partition, record.offset, ())
            return
        self._index.apply(alert)
        decisions = plan_notifications(
            alert, self._policies, self._silences.current(), self._index, self._clock()
        )
        claimed: list[Decision] = []
        # Claims and the tracker's waiters change together with _final (one lock), so a key
        # that finishes in between cannot leave this record waiting for ever.
        with self._handoff:
            waiting: list[str] = []
            for decision in decisions:
                key = decision.notification.key
                claim = self._keys.claim(key)
                if claim == "done":
                    continue
                waiting.append(key)
                if claim == "claimed":
                    claimed.append(decision)
            self._tracker.record(partition, record.offset, waiting)
        for decision in claimed:
            self._dispatch(decision)
        self._metrics.alerts.labels(outcome="notified" if claimed else "quiet").inc()

    def _dispatch(self, decision: Decision) -> None:
        notification = decision.notification
        if decision.outcome is Outcome.SEND:
            self._workers[notification.channel].submit(notification)
            return
        status = {
            Outcome.SILENCED: DeliveryStatus.SILENCED,
            Outcome.SUPPRESSED: DeliveryStatus.SUPPRESSED,
            Outcome.UNKNOWN_CHANNEL: DeliveryStatus.FAILED,
        }[decision.outcome]
        error = None
        if decision.outcome is Outcome.UNKNOWN_CHANNEL:
            error = "unknown_channel"
            log.error(
                "alert routed to a channel that is not configured",
                channel=notification.channel,
                alert_id=notification.alert.alert_id,
            )
        delivery = make_delivery(
            notification,
            status,
            0,
            self._clock(),
            error=error,
            silence_id=decision.silence_id,
            suppressed_by=decision.suppressed_by,
        )
        log.info(
            "notification not sent",
            status=status.value,
            notification_key=notification.key,
            silence_id=decision.silence_id,
            suppressed_by=decision.suppressed_by,
        )
        key, done = notification.key, status in DONE_STATUSES

        def acknowledged(_: object) -> None:
            self._final(key, done)

        def failed(exc: object) -> None:
            # Not final: this record is not committed and is handled again after a restart.
            log.error("delivery record not written", notification_key=key, error=str(exc))

        self._writer.write(delivery).add_callback(acknowledged).add_errback(failed)

    def _final(self, key: str, done: bool) -> None:
        with self._handoff:
            self._keys.release(key, done)
            self._tracker.final(key)

    # --- Kafka ---------------------------------------------------------------------------------

    def _commit(self) -> None:
        from kafka import TopicPartition
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        wanted = {
            p: o for p, o in self._tracker.committable().items() if self._committed.get(p) != o
        }
        if not wanted:
            return
        offsets = {
            TopicPartition(self._topic, p): OffsetAndMetadata(o, "", -1) for p, o in wanted.items()
        }
        try:
            self._consumer.commit(offsets=offsets)
        except KafkaError as exc:
            log.warning("offset commit failed; will retry", error=str(exc))
            return
        self._committed.update(wanted)
        self._metrics.done_keys.set(self._keys.counts()[0])

    def _update_lag(self) -> None:
        lag = 0
        for tp in self._tps:
            high = self._consumer.highwater(tp)
            if high is not None:
                lag += max(0, high - self._committed.get(tp.partition, 0))
        self._metrics.consumer_lag.set(lag)

    def _set_paused(self, paused: bool) -> None:
        if paused == self._paused:
            return
        if paused:
            self._consumer.pause(*self._tps)
            log.warning(
                "consuming paused: too many notifications in flight", limit=self._cfg.max_pending
            )
        else:
            self._consumer.resume(*self._tps)
            log.info("consuming resumed")
        self._paused = paused

    def _drain(self) -> None:
        """Stop reading; let in-flight notifications finish up to the drain timeout; commit."""
        deadline = time.monotonic() + self._cfg.drain_timeout_s
        log.info("draining", in_flight=self._inflight(), timeout_s=self._cfg.drain_timeout_s)
        while self._inflight() and time.monotonic() < deadline:
            time.sleep(0.05)
        left = self._inflight()
        if left:
            log.warning(
                "drain timeout: unfinished notifications are retried after restart", left=left
            )
        self._abort.set()
        for worker in self._workers.values():
            worker.close(timeout_s=self._cfg.attempt_timeout_s + 1)
        self._writer.flush(timeout_s=30)
        self._commit()
        log.info("notifier stopped", committed=self._committed)
