"""The live picture for the control room, kept in memory from Kafka and pushed to browsers.

``LiveBoard`` is the state (pure): the latest status of every area of the province and the
alerts of the last hours, each replaced only by a newer record. ``LiveFeed`` is the adapter:
an aiokafka consumer outside any group reads the compacted ``sitrep.status`` from its start
and ``sitrep.alerts`` from a look-back window, applies each record and hands every change to
the subscribed browsers (Server-Sent Events, see ``sinks.web.board``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError

from schemas.alert import Alert, AlertState
from schemas.status import AreaStatus
from sitrep import clients
from sitrep.settings import Settings

log = structlog.get_logger("sinks.web.live")

# A browser that cannot keep up loses its subscription (and reconnects for a fresh snapshot)
# instead of making the server hold an unbounded backlog for it.
SUBSCRIBER_QUEUE = 1000


@dataclass(frozen=True)
class LiveEvent:
    kind: str  # "status" | "alert"
    data: dict[str, Any]


@dataclass
class LiveBoard:
    """Latest status per area (of one province) and recent alerts; newest record wins."""

    province_code: str
    keep_resolved: timedelta = timedelta(hours=24)
    statuses: dict[str, AreaStatus] = field(default_factory=dict)
    alerts: dict[str, Alert] = field(default_factory=dict)

    def apply_status(self, status: AreaStatus) -> LiveEvent | None:
        """The change to announce, or None when the record is for another province or not
        newer than what the board already shows (a replay, a duplicate)."""
        code = status.area_code
        if code != self.province_code and not code.startswith(self.province_code + "."):
            return None
        known = self.statuses.get(code)
        if known is not None and known.updated_at >= status.updated_at:
            return None
        self.statuses[code] = status
        return LiveEvent("status", status_view(status))

    def apply_alert(self, alert: Alert) -> LiveEvent | None:
        code = alert.area_code
        if code != self.province_code and not code.startswith(self.province_code + "."):
            return None
        known = self.alerts.get(alert.alert_id)
        if known is not None and known.updated_at > alert.updated_at:
            return None
        if known is not None and known == alert:
            return None
        self.alerts[alert.alert_id] = alert
        return LiveEvent("alert", alert_view(alert))

    def prune(self, now: datetime) -> None:
        """Forget alerts resolved longer ago than ``keep_resolved`` (memory stays bounded)."""
        cutoff = now - self.keep_resolved
        for alert_id in [
            alert_id
            for alert_id, alert in self.alerts.items()
            if alert.state is AlertState.RESOLVED
            and (alert.resolved_at or alert.updated_at) < cutoff
        ]:
            del self.alerts[alert_id]

    def snapshot(self) -> dict[str, Any]:
        return {
            "statuses": [status_view(s) for s in sorted_by_code(self.statuses.values())],
            "alerts": [alert_view(a) for a in newest_first(self.alerts.values())],
        }


def sorted_by_code(statuses: Iterable[AreaStatus]) -> list[AreaStatus]:
    return sorted(statuses, key=lambda status: status.area_code)


def newest_first(alerts: Iterable[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda alert: alert.updated_at, reverse=True)


def status_view(status: AreaStatus) -> dict[str, Any]:
    return status.model_dump(mode="json")


def alert_view(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(mode="json", exclude={"routes"})


class LiveFeed:
    """Reads both topics for the life of the web process and fans changes out."""

    def __init__(self, settings: Settings, board: LiveBoard, alerts_lookback: timedelta) -> None:
        self._settings = settings
        self.board = board
        self._lookback = alerts_lookback
        self._subscribers: set[asyncio.Queue[LiveEvent | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.connected = False  # reading Kafka right now
        self.caught_up = False  # the board holds everything that was on the topics at start

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sitrep-live-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for queue in list(self._subscribers):
            queue.put_nowait(None)

    def subscribe(self) -> asyncio.Queue[LiveEvent | None]:
        queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LiveEvent | None]) -> None:
        self._subscribers.discard(queue)

    def _publish(self, event: LiveEvent) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._subscribers.discard(queue)
                queue_closed(queue)

    async def _run(self) -> None:
        """Read for ever; after a Kafka failure, start again (the board keeps what it has)."""
        from aiokafka.errors import KafkaError

        attempt = 0
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never end silently: the board would just freeze
                self.connected = False
                attempt += 1
                delay = min(30.0, 0.5 * 2**attempt)
                if isinstance(exc, KafkaError | OSError):
                    log.warning("live feed lost kafka", error=str(exc)[:200], retry_in_s=delay)
                else:
                    log.exception("live feed failed", retry_in_s=delay)
                await asyncio.sleep(delay)

    async def _read(self) -> None:
        from aiokafka import TopicPartition

        topics = self._settings.kafka.topics
        consumer = clients.aiokafka_consumer(
            self._settings, group_id=None, client_id="sitrep-web-live"
        )
        await consumer.start()
        try:
            # Topics are made by `sitrep topics ensure` (or the worker): wait until they are.
            while True:
                found = await asyncio.to_thread(
                    topic_partitions, self._settings, (topics.status, topics.alerts)
                )
                status_tps = [TopicPartition(topics.status, p) for p in found[topics.status]]
                alert_tps = [TopicPartition(topics.alerts, p) for p in found[topics.alerts]]
                if status_tps and alert_tps:
                    break
                log.info("live feed waiting for topics", status=topics.status, alerts=topics.alerts)
                await asyncio.sleep(2.0)
            consumer.assign(status_tps + alert_tps)
            await consumer.seek_to_beginning(*status_tps)
            await self._seek_alerts(consumer, alert_tps)
            ends = await consumer.end_offsets(status_tps + alert_tps)
            self.connected = True
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
                for tp, records in batch.items():
                    for record in records:
                        self._apply(tp.topic, record.value)
                if not self.caught_up and await _reached_all(consumer, ends):
                    self.caught_up = True
                    log.info("live board caught up", areas=len(self.board.statuses))
                self.board.prune(datetime.now().astimezone())
        finally:
            self.connected = False
            await consumer.stop()

    async def _seek_alerts(self, consumer: Any, tps: list[Any]) -> None:
        if not tps:
            return
        since = datetime.now().astimezone() - self._lookback
        found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        for tp in tps:
            position = found.get(tp)
            if position is None:
                await consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, position.offset)

    def _apply(self, topic: str, value: bytes | None) -> None:
        if value is None:
            return  # a tombstone: the status of an area that no longer exists stays shown
        topics = self._settings.kafka.topics
        try:
            if topic == topics.status:
                event = self.board.apply_status(AreaStatus.model_validate_json(value))
            else:
                event = self.board.apply_alert(Alert.model_validate_json(value))
        except ValidationError as exc:
            # The indexer dead-letters such records; the board just does not show them.
            log.warning("invalid record skipped", topic=topic, errors=exc.error_count())
            return
        if event is not None:
            self._publish(event)


def topic_partitions(settings: Settings, topics: Iterable[str]) -> dict[str, list[int]]:
    """Partition ids per topic (empty while a topic does not exist). Blocking: run it in a
    thread. aiokafka only knows the partitions of topics it already reads."""
    consumer = clients.kafka_consumer(settings, group_id=None, client_id="sitrep-web-live-meta")
    try:
        return {topic: sorted(consumer.partitions_for_topic(topic) or ()) for topic in topics}
    finally:
        consumer.close()


def queue_closed(queue: asyncio.Queue[LiveEvent | None]) -> None:
    """Tell a dropped subscriber's stream to end (it has room: the queue was just drained)."""
    with contextlib.suppress(asyncio.QueueFull):
        queue.get_nowait()
        queue.put_nowait(None)


async def _reached_all(consumer: Any, ends: dict[Any, int]) -> bool:
    """Whether every partition was read up to the end it had when reading started."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
