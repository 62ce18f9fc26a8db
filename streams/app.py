"""The Faust adapter: topics, tables, agents, the emit timer and the web pages.

Thin on purpose: the rules are in ``streams.engine`` (events -> state) and ``streams.render``
(state + clock -> status). This module moves bytes between Kafka and those functions.

Data flow::

    sitrep.reports --agent status-engine (batches per partition)--> tables areas, incidents,
        seen, clocks (changelog topics <app_id>-<table>-changelog)
    timer emit (every 100 ms) --renders dirty areas--> sitrep.status (key = area code)
                                                   \\-> <app_id>-rollup (key = province code)
    <app_id>-rollup --agent province-rollup--> table provinces --timer emit--> sitrep.status
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import structlog

from schemas.registry import AreaLevel, AreaRegistry, default_registry
from schemas.status import AreaStatus
from sitrep.settings import Settings
from sitrep.topics import TopicSpec, ensure_topics
from streams.alerting import AlertingRuntime, AlertMetrics
from streams.current import partition_of, table_read
from streams.emission import ChangedQueue, Why, plan_emit
from streams.engine import Envelope, PartitionClock, PartitionEngine, Table
from streams.fetching import prompt_fetch_consumer
from streams.metrics import WorkerMetrics
from streams.outbox import GatheredTable, Outbox
from streams.partitions import area_partition, expected_areas, partition_for_key
from streams.render import (
    ProvinceState,
    comparable,
    render_area,
    render_province,
    roll_up,
    status_bytes,
    windows_of,
)
from streams.rules.engine import RuleTable
from streams.scoring import AreaType, ScoringConfig, load_scoring_config
from streams.settings import WorkerSettings
from streams.skipped import with_skipped
from streams.timebase import at_minute, minute_of_seconds

__all__ = ["WorkerRuntime", "build_worker"]

log = structlog.get_logger("streams.worker")

EMIT_TICK_S = 0.1
# Time-driven renders (minute re-render, heartbeats) per emit tick; the rest wait a tick. A
# heartbeat (render and send) costs ~0.8 ms (7,837 nationwide areas took one 6.4 s tick), so a
# tick stays under ~0.2 s and every area comes round within about 4 s.
SCHEDULED_RENDERS_PER_TICK = 200
PROVINCES_TABLE = "provinces"
PRODUCER_BUFFER = 20_000
CAUGHT_UP_IDLE_S = 2.0
EXIT_PROCESSING_FAILED = 70  # EX_SOFTWARE: a supervisor restarts the worker


# --- store adapter ---------------------------------------------------------------------------


class FaustStore:
    """``streams.engine.Store`` over Faust tables (bytes keys and values).

    Faust picks the table partition (RocksDB file, changelog partition) from the event being
    processed, so the agent wraps each partition's work in ``partition_of(event)``.
    """

    def __init__(self, tables: Mapping[Table, Any]) -> None:
        self._tables = tables

    def get(self, table: Table, key: str) -> bytes | None:
        return table_read(self._tables[table], key.encode())

    def put(self, table: Table, key: str, value: bytes) -> None:
        self._tables[table][key.encode()] = value

    def delete(self, table: Table, key: str) -> None:
        faust_table = self._tables[table]
        encoded = key.encode()
        if encoded in faust_table:
            del faust_table[encoded]

    def scan(self, table: Table) -> Iterable[tuple[str, bytes]]:
        return [(key.decode(), value) for key, value in list(self._tables[table].items())]


def drain_completely(buffer: Any, outbox: Outbox | None = None) -> Callable[[], Awaitable[None]]:
    """A flush of Faust's producer buffer that returns once everything queued when it was
    called has been delivered, the outbox's records (changelog, statuses) first.

    Faust flushes the buffer before it commits offsets, but its flush gives up as soon as no
    record went out for 0.1 s, while a batch may have queued thousands of changelog records.
    The commit could then overtake them, and a worker killed right after lost the state of
    records it would never read again (found by `sitrep chaos kill-worker`). Only what was
    queued at the call counts: the offsets about to be committed were taken before it, and
    waiting for an empty queue never ends while the agent keeps writing (commits took 30 s
    under load).
    """

    async def flush() -> None:
        if outbox is not None:
            await outbox.delivered()
        # asyncio.Queue keeps its items in a deque: these are the records queued so far.
        queued = [f for f in getattr(buffer.pending, "_queue", ()) if not f.done()]
        if not queued:
            return
        remaining = len(queued)
        delivered = asyncio.Event()

        def one_done(_: Any) -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:
                delivered.set()

        for fut in queued:
            fut.add_done_callback(one_done)
        while not delivered.is_set():
            if buffer.state != "running":
                raise RuntimeError("cannot flush the changelog: Faust's producer stopped")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(delivered.wait(), timeout=0.1)

    return flush


def commit_past_duplicate_acks(consumer: Any) -> None:
    """Make Faust's next commit offset skip offsets acknowledged twice.

    Faust commits the first run of consecutive acknowledged offsets. After a restart and
    rebalance its bookkeeping can hold an offset twice (a range it fills in as a "gap" also
    arrives and is acknowledged; faust-streaming issues #312, #606), and a duplicate ends the
    run: each commit then moved one or two offsets, every 2.8 s, and a restarted worker that
    had processed everything left its consumer lag standing for minutes (found by `sitrep
    chaos corrupt-state-store`). Dropping the duplicates claims no offset that was not
    acknowledged.
    """
    if getattr(consumer, "_sitrep_dedupes_acks", False):
        return
    new_offset = consumer._new_offset

    def without_duplicates(tp: Any) -> int | None:
        acked = consumer._acked.get(tp)
        if acked:
            acked[:] = sorted(set(acked))
        result: int | None = new_offset(tp)
        return result

    consumer._new_offset = without_duplicates
    consumer._sitrep_dedupes_acks = True


@contextlib.contextmanager
def exit_on_failure(agent: str, records: int) -> Iterator[None]:
    """Crash-only processing: on an unexpected error the process exits at once.

    Faust acknowledges the events of a batch when its generator is closed, also when the
    agent raised, and would then commit offsets of records that were never applied (silent
    loss). Exiting before that happens leaves the offsets where they were: the restarted worker
    recovers its tables from the changelog and processes those records again.
    """
    try:
        yield
    except Exception:
        log.critical(
            "processing failed; exiting without committing the batch",
            agent=agent,
            records=records,
            exc_info=True,
        )
        logging.shutdown()
        os._exit(EXIT_PROCESSING_FAILED)


# --- runtime ---------------------------------------------------------------------------------


@dataclass
class SentStatus:
    facts: dict[str, Any]
    wall: float


@dataclass
class WorkerRuntime:
    """Everything the agents, timer and pages share; built once by ``build_worker``."""

    settings: Settings
    config: ScoringConfig
    registry: AreaRegistry
    zone: tzinfo
    partitions: int
    app: Any
    engine: PartitionEngine
    metrics: WorkerMetrics
    tables: dict[Table, Any]
    provinces: Any
    reports_topic: Any
    status_topic: Any
    deadletter_topic: Any
    rollup_topic: Any
    outbox: Outbox  # changelog and status records, sent in batches
    exit_when_caught_up: bool = False
    expected: dict[int, list[str]] = field(default_factory=dict)
    known: dict[int, set[str]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    changed: ChangedQueue = field(default_factory=ChangedQueue)  # dirty, by end of debounce
    changed_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    dirty_provinces: set[str] = field(default_factory=set)
    time_pending: set[str] = field(default_factory=set)  # the minute moved on: re-render
    sent: dict[str, SentStatus] = field(default_factory=dict)
    last_offsets: dict[int, int] = field(default_factory=dict)
    last_time_render: dict[int, tuple[float, int]] = field(default_factory=dict)
    last_heartbeat: float = 0.0
    last_activity: float = field(default_factory=time.monotonic)
    last_progress_log: float = field(default_factory=time.monotonic)
    started_minute: int = field(default_factory=lambda: minute_of_seconds(time.time()))
    needs_scan: bool = True
    caught_up_ticks: int = 0
    final_phase: int = 0
    alerting: AlertingRuntime | None = None  # None: SITREP_WORKER__ALERTS_ENABLED=false
    handlers: tuple[Any, ...] = ()  # keeps the registered callbacks referenced
    stopping: bool = False

    @property
    def store(self) -> FaustStore:
        return FaustStore(self.tables)

    # --- partitions ------------------------------------------------------------------------

    def assigned(self, topic: str) -> list[int]:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:  # consumer not started yet
            return []
        return sorted(tp.partition for tp in assignment if tp.topic == topic)

    def forget(self) -> None:
        """Partitions moved: cached states and send history may belong to someone else now."""
        self.engine.forget()
        self.dirty.clear()
        self.changed.clear()
        self.dirty_provinces.clear()
        self.time_pending.clear()
        self.sent.clear()
        self.known.clear()
        self.last_time_render.clear()
        self.needs_scan = True
        if self.alerting is not None:
            self.alerting.forget()

    def areas_of(self, partition: int) -> list[str]:
        known = self.known.get(partition, set())
        expected = self.expected.get(partition, [])
        return expected + sorted(known.difference(expected))

    def last_sent(self, code: str) -> float | None:
        sent = self.sent.get(code)
        return None if sent is None else sent.wall

    def mark_changed(self, codes: Iterable[str]) -> None:
        """Areas a batch changed: each is sent as soon as its debounce allows."""
        interval = self.settings.worker.emit_interval_ms / 1000
        for code in codes:
            self.dirty.add(code)
            self.changed.add(code, self.last_sent(code), interval)
        if self.changed:
            self.changed_wakeup.set()

    def note_area(self, code: str, partition: int) -> None:
        self.known.setdefault(partition, set()).add(code)

    def scan_known_areas(self) -> None:
        for key in list(self.tables[Table.AREAS].keys()):
            code = key.decode()
            self.note_area(code, area_partition(code, self.partitions))
        self.needs_scan = False

    # --- clocks ----------------------------------------------------------------------------

    def partition_clock(self, partition: int) -> PartitionClock | None:
        raw = table_read(self.tables[Table.CLOCKS], str(partition).encode())
        return PartitionClock.decode(raw) if raw else None

    def render_clock(
        self, clocks: Mapping[int, PartitionClock | None], partition: int, wall: float
    ) -> tuple[int, int | None] | None:
        """(now, origin) in minutes for rendering a partition's areas, or None (no clock yet).

        Event time is the partition's latest occurred_at. With clock=auto the wall clock also
        moves it while the data is live (the newest received_at is within live_horizon_h), so
        silence shows up in real time; replays of old data stay purely in event time.
        """
        clock = clocks.get(partition)
        wall_minute = minute_of_seconds(wall)
        received = [c.received for c in clocks.values() if c is not None and c.received]
        live = self.settings.worker.clock == "auto" and (
            not received or wall - max(received) <= self.settings.worker.live_horizon_h * 3600
        )
        if clock is None or clock.clock is None:
            return (wall_minute, self.started_minute) if live else None
        now = max(clock.clock, wall_minute) if live else clock.clock
        return now, clock.origin

    # --- rendering -------------------------------------------------------------------------

    def render(
        self, code: str, partition: int, now: int, origin: int | None, wall: float
    ) -> AreaStatus | None:
        area = self.registry.get(code)
        if area is None:
            return None
        state = self.engine.load_area(self.store, code)
        if state is None:
            from streams.area import AreaState

            area_type: AreaType = "regency" if code.count(".") == 1 else "district"
            created = origin if origin is not None else now
            state = AreaState.new(code, area_type, partition, created)
        return render_area(
            state,
            area,
            now,
            self.config,
            self.zone,
            datetime.fromtimestamp(wall, self.zone),
            origin,
        )

    def describe_area(self, code: str) -> dict[str, Any] | None:
        """Rendered status plus the engine's view of the area, for the web page."""
        if code.count(".") == 0:
            raw = self.provinces.get(code.encode())
            if raw is None:
                return None
            province = render_province(
                ProvinceState.decode(raw),
                self.registry.require(code),
                self.config.top_reports,
                datetime.now(self.zone),
            )
            return {"status": province.model_dump(mode="json")}
        partition = area_partition(code, self.partitions)
        clocks = {p: self.partition_clock(p) for p in range(self.partitions)}
        view = self.render_clock(clocks, partition, time.time())
        if view is None:
            return None
        now, origin = view
        status = self.render(code, partition, now, origin, time.time())
        if status is None:
            return None
        state = self.engine.load_area(self.store, code)
        detail: dict[str, Any] = {"status": status.model_dump(mode="json"), "partition": partition}
        if state is not None:
            detail["engine"] = {
                "watermark": state.watermark,
                "clock_minute": state.clock,
                "buckets": len(state.buckets),
                "reports_applied": state.reports,
                "windows": [
                    {
                        "minutes": w.minutes,
                        "reports": w.reports,
                        "check_ins": w.check_ins,
                        "by_category": dict(w.by_category),
                    }
                    for w in windows_of(state, now, self.config)
                ],
            }
        return detail

    # --- sending ---------------------------------------------------------------------------

    def send(self, status: AreaStatus, wall: float) -> None:
        """Queue the status (and a regency's roll-up record) in the outbox."""
        payload = status_bytes(status)
        code = status.area_code
        self.outbox.add_keyed(self.status_topic.get_topic_name(), code.encode(), payload)
        if status.area_level is AreaLevel.REGENCY:
            province = code.split(".")[0]
            self.outbox.add_keyed(self.rollup_topic.get_topic_name(), province.encode(), payload)
        facts = comparable(status)
        previous = self.sent.get(code)
        if previous is None or previous.facts["level"] != facts["level"]:
            self.metrics.level_changes.inc()
            # First sends after a start are the state as found; changes are news.
            emit_log = log.debug if previous is None else log.info
            emit_log(
                "status changed" if previous else "status",
                area=code,
                name=status.area_name,
                status_level=status.level.value,
                previous_level=status.previous_level.value if status.previous_level else None,
                score=status.score,
                open_incidents=status.open_incidents,
                reason=status.change_reason,
            )
        self.sent[code] = SentStatus(facts, wall)
        self.metrics.statuses.labels(area_level=str(status.area_level)).inc()


# --- construction ----------------------------------------------------------------------------


def broker_credentials(settings: Settings) -> Any:
    """Faust (aiokafka) credentials from the Kafka settings; None for plaintext."""
    import faust

    from sitrep import clients

    kafka = settings.kafka
    if kafka.security_protocol == "PLAINTEXT":
        return None
    context = clients.kafka_ssl_context(settings)
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(context)
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=password,
        ssl_context=context,
        mechanism=kafka.sasl_mechanism or "PLAIN",
    )


def reports_partitions(settings: Settings) -> int:
    """Partition count of the reports topic (tables must have the same)."""
    from kafka.errors import KafkaError

    from sitrep import clients

    topic = settings.kafka.topics.reports
    try:
        admin = clients.kafka_admin(settings)
    except KafkaError as exc:
        raise RuntimeError(
            f"Kafka at {settings.kafka.bootstrap_servers} is not reachable: {exc}"
        ) from None
    try:
        described = admin.describe_topics([topic])
    finally:
        admin.close()
    partitions = described[0].get("partitions") if described else None
    if not partitions or described[0].get("error_code"):
        raise RuntimeError(f"topic {topic} does not exist; run `sitrep topics ensure`")
    return len(partitions)


def internal_topics(settings: Settings, partitions: int) -> list[TopicSpec]:
    """The changelog topics of the tables and the roll-up topic, as Faust would create them."""
    app_id, replication = settings.worker.app_id, settings.kafka.replication_factor
    tables = [
        *(table.value for table in Table),
        PROVINCES_TABLE,
        *(table.value for table in RuleTable),
    ]
    changelogs = [
        TopicSpec(
            f"{app_id}-{name}-changelog", partitions, replication, {"cleanup.policy": "compact"}
        )
        for name in tables
    ]
    return [*changelogs, TopicSpec(f"{app_id}-rollup", partitions, replication)]


def declare_internal_topics(settings: Settings, partitions: int) -> None:
    """Create the worker's internal topics before Faust starts.

    On a fresh cluster Faust declares them itself, but its agents can start before the new
    topics show up in metadata and then fail with a partition mismatch; created (and waited
    for) up front, they are simply there.
    """
    from sitrep import clients

    admin = clients.kafka_admin(settings)
    try:
        ensure_topics(admin, internal_topics(settings, partitions))
    finally:
        admin.close()


def rocksdb_options(worker: WorkerSettings) -> dict[str, Any]:
    """Faust's RocksDB options for one table: bounded memory per database."""
    mib = 1024 * 1024
    return {
        "driver": "rocksdict",
        "write_buffer_size": worker.rocksdb_write_buffer_mib * mib,
        "max_write_buffer_number": 2,  # one filling while the other is flushed
        "block_cache_size": worker.rocksdb_block_cache_mib * mib,
    }


def data_dir(settings: Settings) -> Path:
    base = settings.worker.data_dir or (settings.home / "worker")
    return base / settings.worker.app_id


def build_worker(
    settings: Settings,
    *,
    exit_when_caught_up: bool = False,
    registry: AreaRegistry | None = None,
    partitions: int | None = None,
) -> WorkerRuntime:
    """The Faust app with its topics, tables, agents, timer and pages, ready for a Worker."""
    import faust

    registry = registry or default_registry()
    config = load_scoring_config(settings.worker.scoring_config, registry)
    partitions = partitions or reports_partitions(settings)
    worker = settings.worker
    # Faust's RocksDB store runs on rocksdict when python-rocksdb is absent; the URL scheme
    # stays rocksdb:// (faust-streaming registers no rocksdict:// store).
    store_url = "rocksdb://" if worker.store == "rocksdict" else "memory://"
    data_dir(settings).mkdir(parents=True, exist_ok=True)
    if worker.store == "rocksdict":
        from streams.store_check import set_aside_damaged_stores

        set_aside_damaged_stores(data_dir(settings), datetime.now(UTC))
    declare_internal_topics(settings, partitions)
    app = faust.App(
        worker.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(settings),
        store=store_url,
        datadir=str(data_dir(settings)),
        topic_partitions=partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Gather the records still sent one by one (alerts, dead letters) into few produce
        # requests: each cost a socket write (13 % of the worker's time before the outbox).
        producer_linger=worker.producer_linger_ms / 1000,
        broker_session_timeout=worker.session_timeout_s,
        broker_rebalance_timeout=worker.session_timeout_s,
        broker_heartbeat_interval=min(3.0, worker.session_timeout_s / 3),
        web_enabled=True,
        web_bind=worker.web_host,
        web_host=worker.web_host,
        web_port=worker.web_port,
        web_tables_enabled=False,  # values are bytes; /tables/... below shows them decoded
        autodiscover=False,
        topic_disable_leader=False,
    )
    # Faust has no setting for it; the worker's consumer is made from its transport's class.
    cast(Any, app.transport).Consumer = prompt_fetch_consumer(worker.fetch_max_wait_ms)

    def raw_topic(name: str, **options: Any) -> Any:
        return app.topic(name, key_serializer="raw", value_serializer="raw", **options)

    # The aiokafka producer under Faust's (started with the app, hence asked for late).
    outbox = Outbox(
        lambda: cast(Any, app.producer)._ensure_producer(),
        hold_s=worker.changelog_hold_ms / 1000,
    )

    def table(name: str) -> Any:
        # A fresh options dict each time: Faust's store pops keys out of it.
        options = rocksdb_options(worker) if worker.store == "rocksdict" else None
        return app.tables.add(
            GatheredTable(
                app,
                name=name,
                default=None,
                beacon=app.tables.beacon,
                partitions=partitions,
                key_type=bytes,  # bytes types select Faust's raw codec
                value_type=bytes,
                options=options,
                outbox=outbox,
            )
        )

    tables = {name: table(name.value) for name in Table}
    provinces = table(PROVINCES_TABLE)
    topics = settings.kafka.topics
    runtime = WorkerRuntime(
        settings=settings,
        config=config,
        registry=registry,
        zone=ZoneInfo(settings.timezone),
        partitions=partitions,
        app=app,
        engine=PartitionEngine(config, registry, ZoneInfo(settings.timezone)),
        metrics=WorkerMetrics(),
        tables=tables,
        provinces=provinces,
        reports_topic=raw_topic(topics.reports),
        status_topic=raw_topic(topics.status),
        deadletter_topic=raw_topic(topics.deadletter),
        rollup_topic=raw_topic(f"{worker.app_id}-rollup", partitions=partitions, internal=True),
        outbox=outbox,
        exit_when_caught_up=exit_when_caught_up,
        expected=expected_areas(registry, settings.province_code, partitions),
    )
    if worker.alerts_enabled:
        runtime.alerting = _build_alerting(runtime, table, raw_topic)
    _wire(runtime)
    return runtime


def _build_alerting(runtime: WorkerRuntime, table: Any, raw_topic: Any) -> AlertingRuntime:
    """The alert rules (validated now: a bad rule file stops the start) and their tables."""
    from streams.rules.engine import RuleEngine
    from streams.rules.model import load_rules, load_sites

    settings = runtime.settings
    rules = load_rules(settings.worker.rules_dir, runtime.registry, settings.province_code)
    sites = load_sites(settings.worker.sites_dir)
    topics = settings.kafka.topics
    return AlertingRuntime(
        engine=RuleEngine(rules, runtime.registry, sites, runtime.zone),
        tables={name: table(name.value) for name in RuleTable},
        alerts_topic=raw_topic(topics.alerts),
        reports_topic_name=topics.reports,
        metrics=AlertMetrics(runtime.metrics.registry),
        expected=runtime.expected,
    )


def _wire(runtime: WorkerRuntime) -> None:
    app = runtime.app
    settings = runtime.settings.worker

    async def status_engine(stream: Any) -> None:
        # Faust stalls the stream whenever more than 100 records wait in its producer buffer
        # (ProducerBuffer.max_messages); a bad batch dead-letters thousands at once, so let
        # them queue and drain in the background instead of trickling through 100 at a time.
        # Table and status records bypass that buffer (streams.outbox).
        app.producer.buffer.max_messages = PRODUCER_BUFFER
        app.producer.buffer.flush = drain_completely(app.producer.buffer, runtime.outbox)
        commit_past_duplicate_acks(app.consumer)
        async for events in stream.take_events(
            settings.batch_size, within=settings.batch_within_ms / 1000
        ):
            with exit_on_failure("status-engine", len(events)):
                await _process_batch(runtime, events)
                await runtime.outbox.send()

    async def province_rollup(stream: Any) -> None:
        async for events in stream.take_events(
            settings.batch_size, within=settings.batch_within_ms / 1000
        ):
            with exit_on_failure("province-rollup", len(events)):
                _roll_up(runtime, events)
                await runtime.outbox.send()

    async def emit() -> None:
        if runtime.stopping or runtime.app.tables.recovery.in_recovery:
            return
        assigned = runtime.assigned(runtime.reports_topic.get_topic_name())
        if not assigned:
            return
        await _emit(runtime, assigned)
        if runtime.alerting is not None:
            await _tick_rules(runtime, runtime.alerting, assigned)
        await _report_progress(runtime, assigned)
        await runtime.outbox.send()

    async def send_changed() -> None:
        # Between the timer's ticks: a changed area goes out the moment its debounce ends.
        while True:
            due = runtime.changed.next_due()
            wait = EMIT_TICK_S if due is None else min(EMIT_TICK_S, max(0.0, due - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runtime.changed_wakeup.wait(), wait)
            runtime.changed_wakeup.clear()
            assigned = runtime.assigned(runtime.reports_topic.get_topic_name())
            if runtime.stopping or runtime.app.tables.recovery.in_recovery or not assigned:
                await asyncio.sleep(EMIT_TICK_S)
                continue
            try:
                sent = _emit_changed(runtime, assigned)
            except _partition_revoked():
                continue  # the rebalance forgets what this partition had queued
            if sent:
                await runtime.outbox.send()

    async def on_revoked(sender: Any, revoked: Any, **_: Any) -> None:
        # Faust flushed before this signal; a write made since (the emit timer's) must not stay
        # held and reach the changelog after the partition's next owner has written it.
        await runtime.outbox.delivered()
        runtime.forget()

    app.agent(runtime.reports_topic, name="status-engine")(status_engine)
    app.agent(runtime.rollup_topic, name="province-rollup")(province_rollup)
    alerting = runtime.alerting
    if alerting is not None:
        topics = runtime.settings.kafka.topics

        async def level_alerts(stream: Any) -> None:
            async for events in stream.take_events(500, within=0.05):
                with exit_on_failure("level-alerts", len(events)):
                    for event in events:
                        await alerting.publish(alerting.on_status_event(event))
                    await runtime.outbox.send()

        async def alert_commands(stream: Any) -> None:
            async for event in stream.events():
                with exit_on_failure("alert-commands", 1):
                    await alerting.publish(alerting.on_command_event(event))
                    await runtime.outbox.send()

        app.agent(runtime.status_topic, name="level-alerts")(level_alerts)
        commands_topic = app.topic(
            topics.alert_commands, key_serializer="raw", value_serializer="raw"
        )
        app.agent(commands_topic, name="alert-commands")(alert_commands)
        runtime.handlers = (level_alerts, alert_commands)
    app.timer(interval=EMIT_TICK_S, name="emit")(emit)
    app.task(send_changed)

    app.on_partitions_revoked.connect(on_revoked)
    _pages(runtime)
    # Keep references: Faust holds agents and timers weakly in places.
    runtime.handlers = (
        *runtime.handlers,
        status_engine,
        province_rollup,
        emit,
        send_changed,
        on_revoked,
    )


async def _process_batch(runtime: WorkerRuntime, events: Sequence[Any]) -> None:
    started = time.perf_counter()
    wall_now = datetime.now(UTC)
    by_partition: dict[int, list[Any]] = {}
    for event in events:
        by_partition.setdefault(event.message.partition, []).append(event)
    metrics = runtime.metrics
    for partition, group in by_partition.items():
        envelopes = [
            Envelope(
                topic=event.message.topic,
                partition=partition,
                offset=event.message.offset,
                key=event.message.key,
                value=event.message.value,
            )
            for event in group
        ]
        with partition_of(group[-1]):
            # Read once: the clock as the batch finds it, for the skip check and the rules.
            clock = runtime.partition_clock(partition)
            rule_now = _rule_time_before(runtime, clock, partition, wall_now.timestamp())
        envelopes, skipped = await with_skipped(
            runtime.settings, -1 if clock is None else clock.watermark, envelopes
        )
        metrics.skipped_read.inc(skipped)
        with partition_of(group[-1]):
            result = runtime.engine.process(partition, envelopes, runtime.store, wall_now)
            alerts = _rules_on_batch(runtime, partition, result.accepted, rule_now)
        if alerts and runtime.alerting is not None:
            await runtime.alerting.publish(alerts)
        for record in result.dead_letters:
            key = (record.district or record.stage.value).encode()
            runtime.deadletter_topic.send_soon(
                key=key, value=record.model_dump_json(exclude_none=True).encode()
            )
            log.info(
                "dead-lettered",
                reason=record.reason.value,
                report_id=record.report_id,
                partition=partition,
                offset=record.origin.offset if record.origin else None,
            )
        for code in result.touched:
            runtime.note_area(code, partition)
        runtime.mark_changed(result.touched)
        runtime.last_offsets[partition] = max(
            runtime.last_offsets.get(partition, -1), result.last_offset
        )
        metrics.count("applied", result.applied)
        metrics.count("duplicate", result.duplicates)
        metrics.count("too_late", result.too_late)
        metrics.count("invalid", result.invalid)
    metrics.processed += len(events)
    metrics.meter.add(len(events))
    metrics.batch_seconds.set(time.perf_counter() - started)
    runtime.last_activity = time.monotonic()


def _rule_time(
    runtime: WorkerRuntime, partition: int, wall: float, clock: PartitionClock | None = None
) -> datetime | None:
    """The partition's stream time for the rules, as statuses use it (None: no clock yet).
    ``clock``: the partition clock when the caller has read it already.

    Live data runs on the wall clock to the second; replays of old data on event time.
    """
    clock = clock or runtime.partition_clock(partition)
    view = runtime.render_clock({partition: clock}, partition, wall)
    if view is None:
        return None
    minute = view[0]
    if minute >= minute_of_seconds(wall):
        return datetime.fromtimestamp(wall, UTC)
    return at_minute(minute)


def _rule_time_before(
    runtime: WorkerRuntime, clock: PartitionClock | None, partition: int, wall: float
) -> datetime | None:
    """The rules' stream time before a batch moves the partition ``clock`` on. None when the
    partition has no clock yet: the batch's own reports start it, live data or a replay."""
    if runtime.alerting is None or clock is None:
        return None
    return _rule_time(runtime, partition, wall, clock)


def _rules_on_batch(
    runtime: WorkerRuntime,
    partition: int,
    accepted: Sequence[tuple[int, Any]],
    rule_now: datetime | None,
) -> list[Any]:
    alerting = runtime.alerting
    if alerting is None or not accepted:
        return []
    return alerting.on_reports(partition, accepted, rule_now)


async def _tick_rules(
    runtime: WorkerRuntime, alerting: AlertingRuntime, assigned: list[int]
) -> None:
    wall = time.time()
    for partition in assigned:
        republished = alerting.republish_due(partition)
        if republished:
            await alerting.publish(republished)
        now = _rule_time(runtime, partition, wall)
        if now is None:
            continue
        alerts = alerting.tick(partition, now, wall)
        if alerts:
            await alerting.publish(alerts)


def _roll_up(runtime: WorkerRuntime, events: Sequence[Any]) -> None:
    """Each province's state is read and written once per batch.

    It holds every regency's status, so decoding and encoding it for each regency record cost
    more than the status engine itself with the nationwide registry.
    """
    changes: dict[str, list[AreaStatus]] = {}
    last_event: dict[str, Any] = {}
    for event in events:
        try:
            status = AreaStatus.model_validate_json(event.message.value)
        except ValueError:
            log.warning("unreadable roll-up record skipped", offset=event.message.offset)
            continue
        province = status.area_code.split(".")[0]
        changes.setdefault(province, []).append(status)
        last_event[province] = event  # keyed by province: names its table partition
    for province, statuses in changes.items():
        with partition_of(last_event[province]):
            raw = runtime.provinces.get(province.encode())
            state = ProvinceState.decode(raw) if raw else ProvinceState(province, {})
            runtime.provinces[province.encode()] = roll_up(state, statuses).encode()
        runtime.dirty_provinces.add(province)
    runtime.last_activity = time.monotonic()


async def _emit(runtime: WorkerRuntime, assigned: list[int], force: bool = False) -> None:
    """Send the statuses due: changed (debounced), time-driven level changes, heartbeats.

    ``force``: every area now, uncapped (the last emission before --exit-when-caught-up).
    """
    if runtime.needs_scan:
        runtime.scan_known_areas()
    wall = time.time()
    settings = runtime.settings.worker
    interval = settings.emit_interval_ms / 1000
    budget = None if force else SCHEDULED_RENDERS_PER_TICK
    clocks = {p: runtime.partition_clock(p) for p in assigned}
    for partition in assigned:
        view = runtime.render_clock(clocks, partition, wall)
        if view is None:
            continue
        now, origin = view
        areas = runtime.areas_of(partition)
        last_render = runtime.last_time_render.get(partition)
        if last_render is None or (wall - last_render[0] >= interval and last_render[1] != now):
            runtime.last_time_render[partition] = (wall, now)
            runtime.time_pending.update(areas)
        plan = plan_emit(
            areas,
            dirty=runtime.dirty,
            time_pending=runtime.time_pending,
            last_sent=runtime.last_sent,
            wall=wall,
            interval_s=interval,
            heartbeat_s=0.0 if force else settings.heartbeat_s,
            budget=budget,
        )
        budget = plan.budget_left
        for due in plan.due:
            _render_and_send(runtime, due.code, partition, (now, origin), wall, due.why)
    heartbeat = force or wall - runtime.last_heartbeat >= settings.heartbeat_s
    await _emit_provinces(runtime, wall, interval, heartbeat)
    if heartbeat:
        runtime.last_heartbeat = wall


def _emit_changed(runtime: WorkerRuntime, assigned: list[int]) -> int:
    """Send the changed areas whose debounce has ended; how many were sent."""
    wall = time.time()
    codes = runtime.changed.pop_due(
        wall,
        dirty=runtime.dirty,
        last_sent=runtime.last_sent,
        interval_s=runtime.settings.worker.emit_interval_ms / 1000,
    )
    if not codes:
        return 0
    clocks = {p: runtime.partition_clock(p) for p in assigned}
    views = {p: runtime.render_clock(clocks, p, wall) for p in assigned}
    sent = 0
    for code in codes:
        partition = area_partition(code, runtime.partitions)
        view = views.get(partition)
        if view is None:
            continue  # not ours any more, or no clock yet: the timer judges it
        sent += _render_and_send(runtime, code, partition, view, wall, Why.CHANGED)
    return sent


def _render_and_send(
    runtime: WorkerRuntime,
    code: str,
    partition: int,
    view: tuple[int, int | None],
    wall: float,
    why: Why,
) -> bool:
    """Render an area at ``view`` (now, origin) and send it, unless only time moved and
    nothing an operator sees changed; either way it is no longer pending. Sent or not."""
    status = runtime.render(code, partition, *view, wall)
    runtime.dirty.discard(code)
    runtime.time_pending.discard(code)
    if status is None:
        return False
    sent = runtime.sent.get(code)
    if why is Why.TIME and sent and _same_display(sent.facts, status):
        return False
    runtime.send(status, wall)
    return True


async def _emit_provinces(
    runtime: WorkerRuntime, wall: float, interval: float, heartbeat: bool
) -> None:
    mine = set(runtime.assigned(runtime.rollup_topic.get_topic_name()))
    codes = set(runtime.dirty_provinces)
    if heartbeat:
        codes.update(key.decode() for key in list(runtime.provinces.keys()))
    for code in sorted(codes):
        if partition_for_key(code, runtime.partitions) not in mine:
            runtime.dirty_provinces.discard(code)
            continue
        sent = runtime.sent.get(code)
        if not heartbeat and sent and wall - sent.wall < interval:
            continue
        raw = runtime.provinces.get(code.encode())
        area = runtime.registry.get(code)
        runtime.dirty_provinces.discard(code)
        if raw is None or area is None:
            continue
        status = render_province(
            ProvinceState.decode(raw),
            area,
            runtime.config.top_reports,
            datetime.fromtimestamp(wall, runtime.zone),
        )
        runtime.send(status, wall)


def _same_display(facts: Mapping[str, Any], status: AreaStatus) -> bool:
    """Time alone changed nothing an operator sees (score drift waits for the heartbeat)."""
    return bool(
        facts["level"] == status.level.value
        and facts["previous_level"]
        == (status.previous_level.value if status.previous_level else None)
        and facts["level_changed_at"] == status.level_changed_at.isoformat()
    )


async def _report_progress(runtime: WorkerRuntime, assigned: list[int]) -> None:
    """Lag metrics, a progress line every 5 s, and --exit-when-caught-up."""
    consumer = runtime.app.consumer
    topic = runtime.reports_topic.get_topic_name()
    lags = {}
    from faust.types import TP

    for partition in assigned:
        tp = TP(topic, partition)
        last = runtime.last_offsets.get(partition)
        try:
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            done = (await consumer.position(tp) or 0) if last is None else last + 1
        except _partition_revoked():
            continue
        lags[partition] = max(0, highwater - done)
        runtime.metrics.lag.labels(partition=str(partition)).set(lags[partition])
    now = time.monotonic()
    if now - runtime.last_progress_log >= 5:
        runtime.last_progress_log = now
        log.info(
            "progress",
            processed=runtime.metrics.processed,
            rate=round(runtime.metrics.meter.rate(), 1),
            lag=sum(lags.values()),
        )
    if not runtime.exit_when_caught_up or runtime.stopping:
        return
    idle = now - runtime.last_activity >= CAUGHT_UP_IDLE_S
    fetched_all = await _fetched_all(runtime, assigned)
    if idle and fetched_all and not runtime.dirty and not runtime.dirty_provinces:
        runtime.caught_up_ticks += 1
    else:
        runtime.caught_up_ticks = 0
    if runtime.caught_up_ticks < 5:
        return
    runtime.caught_up_ticks = 0
    if runtime.final_phase == 0:
        # Every area once more at the final clock; the regencies' records also reach the
        # province roll-up, which is then waited for and sent last.
        runtime.final_phase = 1
        await _emit(runtime, assigned, force=True)
        runtime.last_activity = time.monotonic()
        return
    runtime.stopping = True
    await _emit_provinces(runtime, time.time(), 0.0, heartbeat=True)
    await runtime.app.producer.flush()
    log.info("caught up; stopping", processed=runtime.metrics.processed)
    os.kill(os.getpid(), signal.SIGTERM)


async def _fetched_all(runtime: WorkerRuntime, assigned: list[int]) -> bool:
    from faust.types import TP

    consumer = runtime.app.consumer
    for topic, partitions in (
        (runtime.reports_topic.get_topic_name(), assigned),
        (
            runtime.rollup_topic.get_topic_name(),
            runtime.assigned(runtime.rollup_topic.get_topic_name()),
        ),
    ):
        for partition in partitions:
            tp = TP(topic, partition)
            try:
                highwater = consumer.highwater(tp)
                position = await consumer.position(tp)
            except _partition_revoked():
                return False  # judged again on the next tick
            if highwater is None or position is None or position < highwater:
                return False
    return True


def _partition_revoked() -> tuple[type[BaseException], ...]:
    """What aiokafka raises for a partition a rebalance has taken away.

    A timer tick reads the assignment first and the offsets after some awaits; a rebalance
    in between raised from the tick and crashed the whole worker.
    """
    from aiokafka.errors import IllegalStateError

    return (AssertionError, IllegalStateError)


# --- web -------------------------------------------------------------------------------------


def _commit_bookkeeping(consumer: Any, topic: str, partitions: Iterable[int]) -> dict[str, Any]:
    """Per partition, what Faust will commit next and what holds it back (acknowledged
    offsets waiting behind a gap, messages handed out but not acknowledged): why a committed
    offset can stand still while the worker has read everything."""
    from faust.types import TP

    acked = getattr(consumer, "_acked", {})
    committed = getattr(consumer, "_committed_offset", {})
    unacked = list(getattr(consumer, "_unacked_messages", ()))
    view: dict[str, Any] = {}
    for partition in partitions:
        tp = TP(topic, partition)
        waiting = sorted(acked.get(tp, ()))
        view[str(partition)] = {
            "committed": committed.get(tp),
            "acked_waiting": len(waiting),
            "acked_twice": len(waiting) - len(set(waiting)),
            "acked_from": waiting[0] if waiting else None,
            "unacked": sorted(m.offset for m in unacked if m.tp == tp)[:10],
        }
    return view


def _pages(runtime: WorkerRuntime) -> None:
    from sitrep.monitoring import MonitoringTokens, aiohttp_middleware

    app = runtime.app
    # Every page but /healthz and /livez needs a monitoring token, Faust's own (/, /router)
    # included: the middleware answers before any page sees the request.
    tokens = MonitoringTokens.of(runtime.settings, "worker")
    app.web.web_app.middlewares.append(aiohttp_middleware(tokens))

    async def livez(view: Any, request: Any) -> Any:
        # Liveness: answers while the event loop runs (/healthz is 503 during a rebalance).
        return view.json({"status": "alive"})

    async def healthz(view: Any, request: Any) -> Any:
        topic = runtime.reports_topic.get_topic_name()
        assigned = runtime.assigned(topic)
        recovering = bool(runtime.app.tables.recovery.in_recovery)
        clocks = {p: runtime.partition_clock(p) for p in assigned}
        body = {
            "status": "ok" if assigned and not recovering else "starting",
            "app_id": runtime.settings.worker.app_id,
            "assigned_partitions": assigned,
            "recovering": recovering,
            "processed": runtime.metrics.processed,
            "rate_per_s": round(runtime.metrics.meter.rate(), 1),
            "last_offsets": runtime.last_offsets,
            # Table writes, and what reached the changelog after later values replaced some.
            "changelog": {
                "writes": runtime.outbox.changes_added,
                "records_sent": runtime.outbox.changes_sent,
                "bytes_sent": runtime.outbox.change_bytes_sent,
            },
            "commits": _commit_bookkeeping(runtime.app.consumer, topic, assigned),
            "partitions": {
                str(p): ({"stream_time_minute": c.clock, **c.counters()} if c is not None else None)
                for p, c in clocks.items()
            },
        }
        return view.json(body, status=200 if body["status"] == "ok" else 503)

    async def metrics(view: Any, request: Any) -> Any:
        return view.bytes(runtime.metrics.exposition(), content_type="text/plain; version=0.0.4")

    async def areas(view: Any, request: Any) -> Any:
        wall = time.time()
        assigned = runtime.assigned(runtime.reports_topic.get_topic_name())
        clocks = {p: runtime.partition_clock(p) for p in assigned}
        result = []
        for partition in assigned:
            clock_view = runtime.render_clock(clocks, partition, wall)
            if clock_view is None:
                continue
            for code in runtime.areas_of(partition):
                status = runtime.render(code, partition, *clock_view, wall)
                if status is not None:
                    result.append(status.model_dump(mode="json"))
        return view.json(sorted(result, key=lambda s: s["area_code"]))

    async def area(view: Any, request: Any, code: str) -> Any:
        detail = runtime.describe_area(code)
        if detail is None:
            return view.json(
                {
                    "error": f"wilayah {code} tidak dipantau oleh worker ini",
                    "error_en": f"area {code} is not watched by this worker",
                },
                status=404,
            )
        return view.json(detail)

    async def table_value(view: Any, request: Any, name: str, key: str) -> Any:
        tables = {table.value: faust_table for table, faust_table in runtime.tables.items()}
        tables["provinces"] = runtime.provinces
        if name not in tables:
            return view.json({"error": f"unknown table {name}", "tables": sorted(tables)}, 404)
        raw = tables[name].get(key.encode())
        if raw is None:
            return view.json({"error": f"no key {key} in {name}"}, status=404)
        import json

        try:
            return view.json({"table": name, "key": key, "value": json.loads(raw)})
        except ValueError:
            return view.json({"table": name, "key": key, "value": raw.decode(errors="replace")})

    for path, page in (
        ("/healthz", healthz),
        ("/livez", livez),
        ("/metrics", metrics),
        ("/areas", areas),
        ("/areas/{code}", area),
        ("/tables/{name}/{key}", table_value),
    ):
        app.page(path)(page)
