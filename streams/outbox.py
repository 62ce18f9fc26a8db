"""What the worker writes to Kafka in bulk, gathered and sent as one batch per topic partition.

Two kinds of records go through here: the tables' changelog records and the status (and
roll-up) records. Faust sends each record through its own publish path: a FutureMessage, a
queue, its serializers and sensors, one aiokafka future, and for a table a RocksDB write of the
persisted offset per record. At two to three changelog records per report that was about 30 %
of the worker's time (one worker does 1.4-1.5x the reports/s without it). Here a record is only
appended to the list of its topic partition; ``send`` turns each list into closed record
batches handed to aiokafka, and once the broker acknowledged a table's batch, the partition's
persisted offset is written once.

The order of the records of a key is kept (one list per topic partition, sent in order), and
``delivered`` runs before every offset commit (``streams.app.drain_completely``), so a committed
report never lacks its changelog records.

Changelog records are held for up to ``hold_s`` (and ``hold_bytes``), and a key written again
meanwhile sends only its latest value: the changelog topics are compacted, so nothing reads
the values in between. An area touched by every batch was otherwise sent whole each time; after
a day of state (up to 80 KB per area) that was 3.6 KB of changelog per report, and 0.8 KB when
held (``sitrep bench worker --history-hours 24`` prints it).
Holding changes no guarantee: every value still reaches the broker before the commit that
covers the reports behind it (``delivered``). A crash loses held writes only of reports not
committed yet, which are read and applied again, as after a crash between a batch and its send
(areas, incidents and rule groups carry the offset they applied, see docs/engine.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder
from faust.types import TP

__all__ = ["BATCH_BYTES", "HOLD_BYTES", "GatheredTable", "Outbox"]

# Records per produce batch; the broker takes up to 1 MiB per batch (message.max.bytes).
# A full builder starts the next batch.
BATCH_BYTES = 512 * 1024
# Changelog bytes held at most before they are sent anyway (a bound on the worker's memory).
HOLD_BYTES = 16 * 1024 * 1024

Record = tuple[bytes, bytes | None]


@dataclass
class _Pending:
    topic: str
    partition: int
    table: Any = None  # a changelog: its persisted offset follows the acknowledgements
    records: list[Record] = field(default_factory=list)


@dataclass
class _Changes:
    """A changelog partition's held writes: the latest value of each key."""

    table: Any
    values: dict[bytes, bytes | None] = field(default_factory=dict)


class Outbox:
    """Records waiting to be sent, and the batches sent but not yet acknowledged.

    ``hold_s``: how long changelog records may wait for a later value of their key (0: each
    ``send`` sends them); ``hold_bytes`` bounds the memory they take meanwhile.
    """

    def __init__(
        self,
        producer: Callable[[], Any],
        *,
        hold_s: float = 0.0,
        hold_bytes: int = HOLD_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._producer = producer  # the aiokafka producer, once Faust has started it
        self._hold_s, self._hold_bytes, self._clock = hold_s, hold_bytes, clock
        self._changes: dict[tuple[str, int], _Changes] = {}
        self._held_bytes = 0
        self._held_since: float | None = None  # when the oldest held write was added
        self._keyed: dict[str, list[Record]] = {}  # partition chosen from the key at send
        self._in_flight: set[asyncio.Future[Any]] = set()
        self._failure: BaseException | None = None
        # One send at a time: a send suspends while aiokafka takes its batches, and a later
        # one must not hand a newer value of a key over before the older one.
        self._sending = asyncio.Lock()
        self.records_sent = 0
        self.changes_added = 0  # table writes, before a later value replaced any
        self.changes_sent = 0
        self.change_bytes_sent = 0

    def add_change(self, table: Any, partition: int, key: bytes, value: bytes | None) -> None:
        """A table write (value None: a delete) for the table's changelog partition."""
        topic = table.changelog_topic.get_topic_name()
        changes = self._changes.get((topic, partition))
        if changes is None:
            changes = self._changes[(topic, partition)] = _Changes(table)
        replaced = changes.values.get(key)
        if key not in changes.values:
            self._held_bytes += len(key)
        self._held_bytes += len(value or b"") - len(replaced or b"")
        changes.values[key] = value
        self.changes_added += 1
        if self._held_since is None:
            self._held_since = self._clock()

    def add_keyed(self, topic: str, key: bytes, value: bytes) -> None:
        """A record for the partition Kafka's default partitioner gives its key."""
        self._keyed.setdefault(topic, []).append((key, value))

    @property
    def waiting(self) -> int:
        keyed = sum(len(records) for records in self._keyed.values())
        return keyed + sum(len(changes.values) for changes in self._changes.values())

    def _hold(self) -> bool:
        """Whether the held changelog writes may wait for the next send."""
        return (
            self._held_since is not None
            and self._held_bytes < self._hold_bytes
            and self._clock() - self._held_since < self._hold_s
        )

    async def send(self, *, everything: bool = False) -> None:
        """Hand the gathered records to the producer (raises if an earlier batch failed):
        the keyed ones always, the changelog ones once held long enough or ``everything``."""
        self._raise_failure()
        changes = bool(self._changes) and (everything or not self._hold())
        if not changes and not self._keyed:
            return
        async with self._sending:
            try:
                await self._send_gathered(changes)
            except BaseException as exc:
                # The records taken for this send are gone: no later flush may let a commit
                # pass them (the worker exits on the error and recovers from the changelog).
                self._failure = self._failure or exc
                raise

    async def _send_gathered(self, changes: bool) -> None:
        producer = self._producer()
        pending: dict[tuple[str, int], _Pending] = {}
        if changes:
            held, self._changes = self._changes, {}
            self._held_bytes, self._held_since = 0, None
            for (topic, partition), gathered in held.items():
                records = list(gathered.values.items())
                pending[(topic, partition)] = _Pending(topic, partition, gathered.table, records)
                self.changes_sent += len(records)
                self.change_bytes_sent += sum(len(k) + len(v or b"") for k, v in records)
        keyed, self._keyed = self._keyed, {}
        for topic, keyed_records in keyed.items():
            partitions = sorted(await producer.partitions_for(topic))
            for key, value in keyed_records:
                partition = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
                slot = pending.get((topic, partition))
                if slot is None:
                    slot = pending[(topic, partition)] = _Pending(topic, partition)
                slot.records.append((key, value))
        for slot in pending.values():
            await self._send_slot(producer, slot)

    async def delivered(self) -> None:
        """Send everything gathered, then wait until the broker acknowledged every batch."""
        await self.send(everything=True)
        if self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise RuntimeError("a batch of records was not delivered") from self._failure

    async def _send_slot(self, producer: Any, slot: _Pending) -> None:
        records = slot.records
        start = 0
        while start < len(records):
            # The first record always fits (a larger one goes alone; the broker judges it).
            builder = BatchBuilder(BATCH_BYTES, 0)
            count = 0
            for key, value in records[start:]:
                if builder.append(key=key, value=value, timestamp=None) is None:
                    break
                count += 1
            # Closed: ready at once instead of waiting out the producer's linger.
            builder.close()
            future = await producer.send_batch(builder, slot.topic, partition=slot.partition)
            self._in_flight.add(future)
            future.add_done_callback(self._on_delivered(slot, count))
            self.records_sent += count
            start += count

    def _on_delivered(self, slot: _Pending, count: int) -> Callable[[asyncio.Future[Any]], None]:
        def done(future: asyncio.Future[Any]) -> None:
            self._in_flight.discard(future)
            if future.cancelled():
                self._failure = self._failure or asyncio.CancelledError()
                return
            error = future.exception()
            if error is not None:
                self._failure = self._failure or error
                return
            if slot.table is not None:
                # The offset of the batch's last record: recovery reads the changelog after it.
                last = future.result().offset + count - 1
                slot.table.data.set_persisted_offset(TP(slot.topic, slot.partition), last)

        return done


class GatheredTable(faust.Table):  # type: ignore[type-arg]
    """A Faust table whose changelog records go to an Outbox instead of one send each.

    Faust's key expiry and table sensors, which its own ``on_key_set`` also calls, are left
    out: these tables are not windowed and nothing reads those sensors.
    """

    def __init__(self, *args: Any, outbox: Outbox, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbox = outbox

    def on_key_set(self, key: Any, value: Any) -> None:
        self.outbox.add_change(self, self._partition(key), key, value)

    def on_key_del(self, key: Any) -> None:
        self.outbox.add_change(self, self._partition(key), key, None)

    def _partition(self, key: Any) -> int:
        partition = self.partition_for_key(key)
        if partition is None:  # only with use_partitioner, which these tables never set
            raise TypeError(f"table {self.name} has no partition for {key!r}")
        return int(partition)
