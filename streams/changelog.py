"""Changelog records of the worker's tables, gathered and sent as one Kafka batch per partition.

Faust sends each table write through its own publish path: a FutureMessage, a queue, its
serializers and sensors, one aiokafka future and a RocksDB write of the persisted offset per
record. At two to three changelog records per report that was about a fifth of the worker's
time. Here a table write only appends (key, value) to a list; ``send`` turns each table
partition's list into one closed record batch, and once the broker acknowledged it, the
partition's persisted offset is written once (what Faust does per record).

The order of writes to a key is kept (one list per table partition, sent in order), and
``send`` runs before every offset commit (``streams.app.drain_completely``), so a committed
report never lacks its changelog records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka.producer.message_accumulator import BatchBuilder
from faust.types import TP

__all__ = ["BATCH_BYTES", "ChangelogWriter", "GatheredTable"]

# One produce batch per table partition and send; the broker takes up to 1 MiB per batch
# (message.max.bytes). A full builder starts the next batch.
BATCH_BYTES = 512 * 1024


@dataclass
class _Pending:
    table: Any
    partition: int
    records: list[tuple[bytes, bytes | None]] = field(default_factory=list)


class ChangelogWriter:
    """Table writes waiting to be sent, and the batches sent but not yet acknowledged."""

    def __init__(self, producer: Callable[[], Any]) -> None:
        self._producer = producer  # the aiokafka producer, once Faust has started it
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._in_flight: set[asyncio.Future[Any]] = set()
        self._failure: BaseException | None = None
        self.records_sent = 0

    def add(self, table: Any, partition: int, key: bytes, value: bytes | None) -> None:
        slot = (table.name, partition)
        pending = self._pending.get(slot)
        if pending is None:
            pending = self._pending[slot] = _Pending(table, partition)
        pending.records.append((key, value))

    @property
    def waiting(self) -> int:
        return sum(len(pending.records) for pending in self._pending.values())

    async def send(self) -> None:
        """Hand every gathered record to the producer (raises if an earlier batch failed)."""
        if self._failure is not None:
            raise RuntimeError("a changelog batch was not delivered") from self._failure
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        producer = self._producer()
        for slot in pending.values():
            await self._send_slot(producer, slot)

    async def delivered(self) -> None:
        """Send what is gathered, then wait until the broker acknowledged every batch."""
        await self.send()
        if self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)
        if self._failure is not None:
            raise RuntimeError("a changelog batch was not delivered") from self._failure

    async def _send_slot(self, producer: Any, slot: _Pending) -> None:
        topic = slot.table.changelog_topic.get_topic_name()
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
            builder.close()
            future = await producer.send_batch(builder, topic, partition=slot.partition)
            self._in_flight.add(future)
            future.add_done_callback(self._on_delivered(slot.table, topic, slot.partition, count))
            self.records_sent += count
            start += count

    def _on_delivered(
        self, table: Any, topic: str, partition: int, count: int
    ) -> Callable[[asyncio.Future[Any]], None]:
        def done(future: asyncio.Future[Any]) -> None:
            self._in_flight.discard(future)
            if future.cancelled():
                self._failure = self._failure or asyncio.CancelledError()
                return
            error = future.exception()
            if error is not None:
                self._failure = self._failure or error
                return
            # The offset of the batch's last record: recovery reads the changelog after it.
            table.data.set_persisted_offset(
                TP(topic, partition), future.result().offset + count - 1
            )

        return done


class GatheredTable(faust.Table):  # type: ignore[type-arg]
    """A Faust table whose writes go to a ChangelogWriter instead of one send each."""

    def __init__(self, *args: Any, writer: ChangelogWriter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writer = writer

    def on_key_set(self, key: Any, value: Any) -> None:
        self.writer.add(self, self._partition(key), key, value)

    def on_key_del(self, key: Any) -> None:
        self.writer.add(self, self._partition(key), key, None)

    def _partition(self, key: Any) -> int:
        partition = self.partition_for_key(key)
        if partition is None:  # only with use_partitioner, which these tables never set
            raise TypeError(f"table {self.name} has no partition for {key!r}")
        return int(partition)
