"""The status engine of one source partition: reports in, area states out. No Faust here.

``PartitionEngine.process`` takes a batch of raw records from one partition of
``sitrep.reports`` (in offset order), validates them, drops duplicates, updates incidents and
area states, and writes every changed key once at the end of the batch through a ``Store``
(Faust tables in the worker, a dict in unit tests). Invalid and too-late records come back as
dead-letter records for the adapter to send.

Crash safety: every stored value remembers the highest source offset it has applied, so the
records Kafka delivers again after a restart change each value at most once, and the seen-ids
table tells a replayed record (same offset) from a duplicate (an earlier offset, same id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Final, Protocol

import structlog
from pydantic import ValidationError

from schemas.common import ValidationProblem, validation_problems
from schemas.deadletter import DeadLetter, Origin, Reason, Stage, guess_identity, make_dead_letter
from schemas.registry import AreaRegistry
from schemas.report import MAX_FUTURE_SKEW, FieldReport, ReportKind, parse_report
from streams import codec
from streams.area import AreaState
from streams.incidents import IncidentRecord, IncidentView, incident_key
from streams.scoring import AreaType, ScoringConfig
from streams.timebase import at_minute, minute_of

__all__ = [
    "BatchResult",
    "Envelope",
    "MemoryStore",
    "PartitionClock",
    "PartitionEngine",
    "SeenEntry",
    "Store",
    "Table",
]

log = structlog.get_logger("streams.engine")

SWEEP_EVERY_MINUTES: Final = 60
"""Expired seen ids and incidents are deleted once per hour of stream time per partition."""


class Table(StrEnum):
    AREAS = "areas"
    INCIDENTS = "incidents"
    SEEN = "seen"
    CLOCKS = "clocks"


class Store(Protocol):
    """Key/value access to one partition's tables (the Faust adapter sets the partition)."""

    def get(self, table: Table, key: str) -> bytes | None: ...

    def put(self, table: Table, key: str, value: bytes) -> None: ...

    def delete(self, table: Table, key: str) -> None: ...

    def scan(self, table: Table) -> Iterable[tuple[str, bytes]]:
        """Entries of the table; may include other partitions' (values say their partition)."""
        ...


class MemoryStore:
    """A Store over plain dicts: for unit tests and tools."""

    def __init__(self) -> None:
        self.tables: dict[Table, dict[str, bytes]] = {table: {} for table in Table}
        self.writes: list[tuple[Table, str]] = []

    def get(self, table: Table, key: str) -> bytes | None:
        return self.tables[table].get(key)

    def put(self, table: Table, key: str, value: bytes) -> None:
        self.tables[table][key] = value
        self.writes.append((table, key))

    def delete(self, table: Table, key: str) -> None:
        self.tables[table].pop(key, None)

    def scan(self, table: Table) -> Iterable[tuple[str, bytes]]:
        return list(self.tables[table].items())


@dataclass(frozen=True, slots=True)
class Envelope:
    """One record as consumed: where it came from and its raw bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass(frozen=True, slots=True)
class SeenEntry:
    offset: int  # source offset of the first record with this report_id
    minute: int  # its occurred_at minute (for expiry)
    partition: int

    def encode(self) -> bytes:
        return f"{self.offset},{self.minute},{self.partition}".encode()

    @classmethod
    def decode(cls, raw: bytes) -> SeenEntry:
        offset, minute, partition = raw.decode().split(",")
        return cls(int(offset), int(minute), int(partition))


CHECKPOINTS: Final = 64
"""Batch starts remembered per partition: far more than fit in one commit interval."""


@dataclass(slots=True)
class PartitionClock:
    """Per partition: stream time (latest occurred_at minute), counters, and checkpoints.

    Faust commits a partition's offset only after a whole batch was processed, so a restarted
    worker always resumes at the start of some earlier batch. The clock remembers its own
    value at the start of each recent batch, and ``rewind`` puts it back there: stream time,
    lateness decisions and counters are then exactly those of an uninterrupted run.
    """

    partition: int
    clock: int | None = None  # max occurred_at minute of the events processed
    origin: int | None = None  # the first event's minute: "watching since"
    received: float | None = None  # max received_at seen, epoch seconds
    watermark: int = -1  # highest offset processed
    applied: int = 0
    duplicates: int = 0
    too_late: int = 0
    invalid: int = 0
    last_sweep: int | None = None
    checkpoints: list[list[Any]] = field(default_factory=list)  # [start offset, *snapshot]

    def observe(self, minute: int, received: float) -> None:
        if self.origin is None:
            self.origin = minute
        self.clock = minute if self.clock is None else max(self.clock, minute)
        self.received = received if self.received is None else max(self.received, received)

    def _snapshot(self) -> list[Any]:
        return [
            self.clock,
            self.origin,
            self.received,
            self.applied,
            self.duplicates,
            self.too_late,
            self.invalid,
            self.last_sweep,
        ]

    def begin_batch(self, first_offset: int) -> bool:
        """Note a batch start; rewind first if it was processed before. False: history lost."""
        exact = True
        if first_offset <= self.watermark:
            exact = self._rewind(first_offset)
        self.checkpoints = [c for c in self.checkpoints if c[0] < first_offset]
        self.checkpoints.append([first_offset, *self._snapshot()])
        del self.checkpoints[:-CHECKPOINTS]
        self.watermark = first_offset - 1
        return exact

    def _rewind(self, first_offset: int) -> bool:
        for checkpoint in self.checkpoints:
            if checkpoint[0] == first_offset:
                (
                    self.clock,
                    self.origin,
                    self.received,
                    self.applied,
                    self.duplicates,
                    self.too_late,
                    self.invalid,
                    self.last_sweep,
                ) = checkpoint[1:]
                return True
        return False

    @property
    def settled_clock(self) -> int | None:
        """Stream time at the oldest remembered batch start: no replay starts before it."""
        return self.checkpoints[0][1] if self.checkpoints else self.clock

    def encode(self) -> bytes:
        return codec.dumps([self.partition, self.watermark, *self._snapshot(), self.checkpoints])

    @classmethod
    def decode(cls, raw: bytes) -> PartitionClock:
        partition, watermark, *snapshot, checkpoints = codec.loads(raw)
        clock, origin, received, applied, duplicates, too_late, invalid, last_sweep = snapshot
        return cls(
            partition,
            clock,
            origin,
            received,
            watermark,
            applied,
            duplicates,
            too_late,
            invalid,
            last_sweep,
            checkpoints,
        )

    def counters(self) -> dict[str, int]:
        return {
            "applied": self.applied,
            "duplicates": self.duplicates,
            "too_late": self.too_late,
            "invalid": self.invalid,
        }


@dataclass(slots=True)
class BatchResult:
    dead_letters: list[DeadLetter] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)  # area codes whose state changed
    applied: int = 0
    duplicates: int = 0
    too_late: int = 0
    invalid: int = 0
    swept: int = 0
    last_offset: int = -1
    # (offset, report) of every report applied, in offset order: what the alert rules see.
    accepted: list[tuple[int, FieldReport]] = field(default_factory=list)


class _Batch:
    """Working copies for one batch; written back once at the end, areas first."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.incidents: dict[str, IncidentRecord] = {}
        self.seen: dict[str, SeenEntry] = {}
        self.dirty_areas: dict[str, AreaState] = {}
        self.dirty_incidents: set[str] = set()
        self.dirty_seen: set[str] = set()


class PartitionEngine:
    """Applies report batches to area state; one instance serves every partition of a worker.

    Area states are cached between batches (decoding a state is the expensive part); the
    adapter calls ``forget`` when partitions move so a stale copy is never used.
    """

    def __init__(
        self,
        config: ScoringConfig,
        registry: AreaRegistry,
        zone: tzinfo,
        *,
        source: str = "kafka",
    ) -> None:
        self.config = config
        self.registry = registry
        self.zone = zone
        self.source = source
        self._areas: dict[str, AreaState] = {}

    # --- cache ----------------------------------------------------------------------------

    def forget(self) -> None:
        self._areas.clear()

    def cached_area(self, code: str) -> AreaState | None:
        return self._areas.get(code)

    def load_area(self, store: Store, code: str) -> AreaState | None:
        state = self._areas.get(code)
        if state is None:
            raw = store.get(Table.AREAS, code)
            if raw is not None:
                state = self._areas[code] = AreaState.decode(raw)
        return state

    # --- processing -----------------------------------------------------------------------

    def process(
        self, partition: int, envelopes: Sequence[Envelope], store: Store, wall_now: datetime
    ) -> BatchResult:
        result = BatchResult()
        batch = _Batch(store)
        raw_clock = store.get(Table.CLOCKS, str(partition))
        clock = PartitionClock.decode(raw_clock) if raw_clock else PartitionClock(partition)
        if envelopes and not clock.begin_batch(envelopes[0].offset):
            log.warning(
                "replay starts before the remembered batches; stream time is approximate",
                partition=partition,
                offset=envelopes[0].offset,
            )
        try:
            for envelope in envelopes:
                self._one(envelope, clock, batch, result, wall_now)
                result.last_offset = max(result.last_offset, envelope.offset)
        except Exception:
            # A bug must not leave half-applied copies in the cache.
            self.forget()
            raise
        self._sweep_if_due(partition, clock, batch, result)
        self._write(batch, clock)
        return result

    def _one(
        self,
        envelope: Envelope,
        clock: PartitionClock,
        batch: _Batch,
        result: BatchResult,
        wall_now: datetime,
    ) -> None:
        clock.watermark = envelope.offset
        try:
            # A record without a value (a tombstone from a foreign producer) is empty input.
            report = parse_report(envelope.value or b"", self.registry)
        except ValidationError as exc:
            problems = validation_problems(exc)
            invalid_json = any(problem["type"] == "json_invalid" for problem in problems)
            reason = Reason.INVALID_JSON if invalid_json else Reason.VALIDATION_FAILED
            result.dead_letters.append(self._dead_letter(envelope, reason, problems, wall_now))
            result.invalid += 1
            clock.invalid += 1
            return
        if report.received_at > wall_now + MAX_FUTURE_SKEW:
            # Valid by the contract (occurred_at is judged against received_at), but a clock
            # years ahead would move the partition's stream time there, and every later report
            # would be dropped as too late.
            problem = ValidationProblem(
                path="received_at",
                message=(
                    f"received_at ({report.received_at.isoformat()}) is after the worker's clock "
                    f"({wall_now.isoformat(timespec='seconds')}); check the producer's clock"
                ),
                type="received_in_future",
            )
            result.dead_letters.append(
                self._dead_letter(envelope, Reason.VALIDATION_FAILED, [problem], wall_now)
            )
            result.invalid += 1
            clock.invalid += 1
            return
        minute = minute_of(report.occurred_at)
        seen = batch.seen.get(report.report_id)
        if seen is None:
            raw_seen = batch.store.get(Table.SEEN, report.report_id)
            seen = SeenEntry.decode(raw_seen) if raw_seen else None
        # A record applied before a crash comes again (same offset) to a clock that may
        # already include later records: it was on time then, so it is applied (idempotently)
        # again rather than dead-lettered as too late.
        replayed = seen is not None and seen.offset == envelope.offset
        lateness = self.config.lateness_minutes
        if not replayed and clock.clock is not None and minute < clock.clock - lateness:
            behind = timedelta(minutes=clock.clock - minute)
            problem = ValidationProblem(
                path="occurred_at",
                message=(
                    f"occurred {behind} before the stream time of its partition "
                    f"({at_minute(clock.clock).isoformat()}); reports more than "
                    f"{lateness} minutes late are not counted"
                ),
                type="too_late",
            )
            result.dead_letters.append(
                self._dead_letter(envelope, Reason.TOO_LATE, [problem], wall_now)
            )
            result.too_late += 1
            clock.too_late += 1
            return
        if seen is not None and seen.offset < envelope.offset:
            result.duplicates += 1
            clock.duplicates += 1
            return
        if seen is None:
            batch.seen[report.report_id] = SeenEntry(envelope.offset, minute, envelope.partition)
            batch.dirty_seen.add(report.report_id)
        clock.observe(minute, report.received_at.timestamp())
        self._apply(report, minute, envelope, clock, batch, result)
        result.accepted.append((envelope.offset, report))
        result.applied += 1
        clock.applied += 1

    def _apply(
        self,
        report: FieldReport,
        minute: int,
        envelope: Envelope,
        clock: PartitionClock,
        batch: _Batch,
        result: BatchResult,
    ) -> None:
        offset = envelope.offset
        config = self.config
        report_areas = [report.district] + ([report.subdistrict] if report.subdistrict else [])
        involved = list(report_areas)
        key = incident_key(report.district, report.incident_id)
        before = after = None
        if report.kind is ReportKind.INCIDENT:
            record = self._incident(batch, key, report.district, envelope.partition)
            if record.applied < offset:
                before = record.latest
                record = record.with_update(offset, IncidentView.of(report))
                after = record.latest
                batch.incidents[key] = record
                batch.dirty_incidents.add(key)
            elif record.remembers(offset):
                before, after = record.state_before(offset), record.state_at(offset)
            else:
                log.warning("incident history too short to replay", incident=key, offset=offset)
            for view in (before, after):
                if view is not None and view.subdistrict and view.subdistrict not in involved:
                    involved.append(view.subdistrict)
        before_share = before.contribution(config) if before else None
        after_share = after.contribution(config) if after else None
        for code in involved:
            area = self._area(batch, code, envelope.partition, minute)
            if area.watermark >= offset:
                continue  # applied before a restart
            area.begin(minute, config, self.zone)
            if code in report_areas:
                area.count_report(report, config, clock.origin)
            if before is not None or after is not None:
                area.change_incident(
                    key,
                    before_share if before and _counts_in(code, report.district, before) else None,
                    after_share if after and _counts_in(code, report.district, after) else None,
                    config,
                )
            area.finish(offset, config, self.zone)
            batch.dirty_areas[code] = area
            result.touched.add(code)

    def _incident(self, batch: _Batch, key: str, district: str, partition: int) -> IncidentRecord:
        record = batch.incidents.get(key)
        if record is None:
            raw = batch.store.get(Table.INCIDENTS, key)
            record = (
                IncidentRecord.decode(raw) if raw else IncidentRecord.empty(district, partition)
            )
            batch.incidents[key] = record
        return record

    def _area(self, batch: _Batch, code: str, partition: int, minute: int) -> AreaState:
        state = self.load_area(batch.store, code)
        if state is None:
            area_type: AreaType = "regency" if code.count(".") == 1 else "district"
            state = self._areas[code] = AreaState.new(code, area_type, partition, minute)
        return state

    def _dead_letter(
        self,
        envelope: Envelope,
        reason: Reason,
        problems: list[ValidationProblem],
        wall_now: datetime,
    ) -> DeadLetter:
        raw = envelope.value or b""
        identity = guess_identity(raw)
        key = envelope.key.decode("utf-8", "replace")[:256] if envelope.key is not None else None
        return make_dead_letter(
            stage=Stage.WORKER,
            reason=reason,
            source=f"{self.source}:{envelope.topic}",
            raw=raw,
            at=wall_now,
            errors=problems,
            report_id=identity.get("report_id"),
            district=identity.get("district"),
            origin=Origin(
                topic=envelope.topic,
                partition=envelope.partition,
                offset=envelope.offset,
                key=key,
            ),
        )

    # --- expiry and writing -----------------------------------------------------------------

    def _sweep_if_due(
        self, partition: int, clock: PartitionClock, batch: _Batch, result: BatchResult
    ) -> None:
        if clock.clock is None:
            return
        if clock.last_sweep is None:
            clock.last_sweep = clock.clock  # nothing can have expired yet
            return
        if clock.clock - clock.last_sweep < SWEEP_EVERY_MINUTES:
            return
        clock.last_sweep = clock.clock
        config = self.config
        # Measured from the oldest remembered batch start, which no replay after a restart
        # goes behind: whatever is deleted could only meet reports that are too late anyway,
        # so deleting it changes no decision, whenever the sweep happens to run.
        settled = clock.settled_clock
        if settled is None:
            return
        seen_horizon = settled - config.lateness_minutes - SWEEP_EVERY_MINUTES
        incident_horizon = (
            settled - config.incident_window_minutes - config.lateness_minutes - 24 * 60
        )
        for key, raw in batch.store.scan(Table.SEEN):
            if key in batch.seen:
                continue
            entry = SeenEntry.decode(raw)
            if entry.partition == partition and entry.minute < seen_horizon:
                batch.store.delete(Table.SEEN, key)
                result.swept += 1
        for key, raw in batch.store.scan(Table.INCIDENTS):
            if key in batch.incidents:
                continue
            owner, latest_minute = IncidentRecord.expiry_of(raw)
            if owner == partition and latest_minute < incident_horizon:
                batch.store.delete(Table.INCIDENTS, key)
                result.swept += 1

    def _write(self, batch: _Batch, clock: PartitionClock) -> None:
        # Areas before incidents before seen ids before the clock: a crash in between leaves
        # values that each know their own offset; see the module docstring.
        store = batch.store
        for code, area in batch.dirty_areas.items():
            store.put(Table.AREAS, code, area.encode())
        for key in batch.dirty_incidents:
            store.put(Table.INCIDENTS, key, batch.incidents[key].encode())
        for report_id in batch.dirty_seen:
            store.put(Table.SEEN, report_id, batch.seen[report_id].encode())
        store.put(Table.CLOCKS, str(clock.partition), clock.encode())


def _counts_in(code: str, district: str, view: IncidentView) -> bool:
    return code == district or code == view.subdistrict
