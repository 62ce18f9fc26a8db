"""Records gathered per topic partition: sent in order as few batches, a table's persisted
offset written once its batch is acknowledged, a lost batch stops the worker, keyed records on
the partition Kafka's default partitioner gives their key.

The broker side is covered by the worker integration tests (tables recovered from these
changelog records after kill -9, tests/streams/test_streams_worker_it.py); here the producer
is a stand-in that records what it is handed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBatch

from streams.outbox import BATCH_BYTES, Outbox
from tests.streams.conftest import run_in_own_loop


@dataclass
class _Store:
    persisted: dict[tuple[str, int], int] = field(default_factory=dict)

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted[(tp.topic, tp.partition)] = offset


def _table(name: str) -> Any:
    topic = SimpleNamespace(get_topic_name=lambda: f"app-{name}-changelog")
    return SimpleNamespace(name=name, changelog_topic=topic, data=_Store())


class _Producer:
    """Hands out one future per batch; the test acknowledges them (or fails them)."""

    def __init__(self, partitions: int = 6) -> None:
        self.batches: list[tuple[str, int, list[tuple[bytes, bytes | None]], Any]] = []
        self.next_offset: dict[tuple[str, int], int] = {}
        self.partitions = partitions

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    async def send_batch(self, builder: Any, topic: str, *, partition: int) -> Any:
        assert builder.closed(), "a batch still open would wait out the producer's linger"
        records = [(record.key, record.value) for record in DefaultRecordBatch(builder._build())]
        future = asyncio.get_running_loop().create_future()
        self.batches.append((topic, partition, records, future))
        return future

    def acknowledge_all(self) -> None:
        for topic, partition, records, future in self.batches:
            if not future.done():
                base = self.next_offset.get((topic, partition), 0)
                self.next_offset[(topic, partition)] = base + len(records)
                future.set_result(SimpleNamespace(offset=base))


def test_writes_go_out_per_table_partition_in_order_and_set_the_persisted_offset() -> None:
    areas, seen = _table("areas"), _table("seen")

    async def scenario() -> _Producer:
        producer = _Producer()
        outbox = Outbox(lambda: producer)
        outbox.add_change(areas, 0, b"64.71", b"v1")
        outbox.add_change(seen, 0, b"r-1", b"s1")
        outbox.add_change(areas, 1, b"64.72", b"w1")
        outbox.add_change(areas, 0, b"64.71", b"v2")
        outbox.add_change(areas, 0, b"64.71.01", None)  # a delete: a tombstone
        assert outbox.waiting == 4  # 64.71 is sent once, with its latest value
        await outbox.send()
        assert outbox.waiting == 0
        producer.acknowledge_all()
        await outbox.delivered()
        return producer

    producer = run_in_own_loop(scenario)
    sent = {(topic, partition): records for topic, partition, records, _ in producer.batches}
    assert len(producer.batches) == 3
    assert sent[("app-areas-changelog", 0)] == [(b"64.71", b"v2"), (b"64.71.01", None)]
    assert sent[("app-areas-changelog", 1)] == [(b"64.72", b"w1")]
    assert sent[("app-seen-changelog", 0)] == [(b"r-1", b"s1")]
    # The offset of each partition's last record, as Faust writes it per record.
    assert areas.data.persisted == {("app-areas-changelog", 0): 1, ("app-areas-changelog", 1): 0}
    assert seen.data.persisted == {("app-seen-changelog", 0): 0}


def test_more_than_a_batch_holds_is_split_and_every_record_sent_once() -> None:
    areas = _table("areas")
    value = b"x" * 10_000
    count = 3 * BATCH_BYTES // len(value)

    async def scenario() -> _Producer:
        producer = _Producer()
        outbox = Outbox(lambda: producer)
        for number in range(count):
            outbox.add_change(areas, 2, f"k{number}".encode(), value)
        await outbox.send()
        producer.acknowledge_all()
        await outbox.delivered()
        assert outbox.records_sent == count
        return producer

    producer = run_in_own_loop(scenario)
    assert len(producer.batches) >= 3
    keys = [key for _, _, records, _ in producer.batches for key, _ in records]
    assert keys == [f"k{number}".encode() for number in range(count)]
    assert areas.data.persisted == {("app-areas-changelog", 2): count - 1}


def test_delivered_waits_for_the_acknowledgement() -> None:
    areas = _table("areas")

    async def scenario() -> tuple[bool, bool]:
        producer = _Producer()
        outbox = Outbox(lambda: producer)
        outbox.add_change(areas, 0, b"k", b"v")
        waiting = asyncio.ensure_future(outbox.delivered())
        await asyncio.sleep(0.05)
        before = waiting.done()
        producer.acknowledge_all()
        await asyncio.wait_for(waiting, timeout=2)
        return before, waiting.done()

    before, after = run_in_own_loop(scenario)
    assert (before, after) == (False, True)
    assert areas.data.persisted == {("app-areas-changelog", 0): 0}


def test_a_lost_batch_fails_the_next_send_and_keeps_the_persisted_offset() -> None:
    areas = _table("areas")

    async def scenario() -> list[str]:
        producer = _Producer()
        outbox = Outbox(lambda: producer)
        outbox.add_change(areas, 0, b"k", b"v")
        await outbox.send()
        producer.batches[0][3].set_exception(OSError("broker gone"))
        await asyncio.sleep(0)
        errors = []
        for attempt in (outbox.delivered, outbox.send):
            outbox.add_change(areas, 0, b"k", b"v2")
            with pytest.raises(RuntimeError, match="not delivered") as raised:
                await attempt()
            errors.append(repr(raised.value.__cause__))
        return errors

    errors = run_in_own_loop(scenario)
    assert errors == ["OSError('broker gone')", "OSError('broker gone')"]
    assert areas.data.persisted == {}


def test_a_record_larger_than_a_batch_goes_in_a_batch_of_its_own() -> None:
    areas = _table("areas")
    large = b"x" * (BATCH_BYTES + 1)

    async def scenario() -> _Producer:
        producer = _Producer()
        outbox = Outbox(lambda: producer)
        outbox.add_change(areas, 0, b"small", b"v")
        outbox.add_change(areas, 0, b"large", large)
        outbox.add_change(areas, 0, b"after", b"w")
        await outbox.send()
        return producer

    producer = run_in_own_loop(scenario)
    assert [records for _, _, records, _ in producer.batches] == [
        [(b"small", b"v")],
        [(b"large", large)],
        [(b"after", b"w")],
    ]


def test_keyed_records_go_where_kafkas_default_partitioner_puts_their_key() -> None:
    """The status topic's partition of an area must not move with the way it is sent: the
    board and the indexer read an area's statuses in order within its partition."""
    codes = [f"64.{regency:02d}" for regency in range(1, 20)]

    async def scenario() -> _Producer:
        producer = _Producer(partitions=6)
        outbox = Outbox(lambda: producer)
        for version in (b"1", b"2"):
            for code in codes:
                outbox.add_keyed("sitrep.status", code.encode(), version)
        assert outbox.waiting == 2 * len(codes)
        await outbox.send()
        producer.acknowledge_all()
        await outbox.delivered()
        return producer

    producer = run_in_own_loop(scenario)
    partitions = list(range(6))
    placed = {
        key: partition
        for topic, partition, records, _ in producer.batches
        for key, _ in records
        if topic == "sitrep.status"
    }
    assert placed == {
        code.encode(): DefaultPartitioner()(code.encode(), partitions, partitions) for code in codes
    }
    assert len(set(placed.values())) > 1
    for _, _, records, _ in producer.batches:
        # Each key's records in the order they were added.
        for code in codes:
            versions = [value for key, value in records if key == code.encode()]
            assert versions in ([], [b"1", b"2"])


def test_a_send_while_another_is_handing_over_waits_so_values_keep_their_order() -> None:
    """aiokafka may make a send wait (a batch of that partition not yet drained); a send
    started meanwhile (the emit timer's, the next batch's) must not overtake it."""
    areas = _table("areas")

    class _SlowFirst(_Producer):
        calls = 0

        async def send_batch(self, builder: Any, topic: str, *, partition: int) -> Any:
            self.calls += 1
            if self.calls == 1:
                await asyncio.sleep(0.05)
            return await super().send_batch(builder, topic, partition=partition)

    async def scenario() -> _Producer:
        producer = _SlowFirst()
        outbox = Outbox(lambda: producer)
        outbox.add_change(areas, 0, b"64.71", b"v1")
        outbox.add_change(areas, 1, b"64.72", b"w1")
        first = asyncio.ensure_future(outbox.send())
        await asyncio.sleep(0.01)  # the first send is now waiting inside aiokafka
        outbox.add_change(areas, 1, b"64.72", b"w2")
        await asyncio.gather(first, outbox.send())
        return producer

    producer = run_in_own_loop(scenario)
    partition_1 = [records for _, partition, records, _ in producer.batches if partition == 1]
    assert partition_1 == [[(b"64.72", b"w1")], [(b"64.72", b"w2")]]


def test_a_send_that_failed_half_way_fails_every_later_flush() -> None:
    """The records it had taken are gone: a commit after it would pass them."""
    areas = _table("areas")

    class _Refusing(_Producer):
        async def send_batch(self, builder: Any, topic: str, *, partition: int) -> Any:
            if partition == 1:
                raise TimeoutError("no room in the producer")
            future = await super().send_batch(builder, topic, partition=partition)
            self.acknowledge_all()
            return future

    async def scenario() -> None:
        outbox = Outbox(lambda: _Refusing())
        outbox.add_change(areas, 0, b"64.71", b"v1")
        outbox.add_change(areas, 1, b"64.72", b"w1")
        with pytest.raises(TimeoutError):
            await outbox.send()
        with pytest.raises(RuntimeError, match="not delivered") as later:
            await outbox.delivered()
        assert isinstance(later.value.__cause__, TimeoutError)

    run_in_own_loop(scenario)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_held_changes_wait_for_their_time_while_keyed_records_go_at_once() -> None:
    """An area written by every batch reaches the changelog once per hold, with its latest
    value; the statuses do not wait."""
    areas = _table("areas")
    clock = _Clock()

    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        producer = _Producer(partitions=1)
        outbox = Outbox(lambda: producer, hold_s=3.0, clock=clock)
        for version in range(5):
            outbox.add_change(areas, 0, b"64.71", b"v%d" % version)
            outbox.add_keyed("sitrep.status", b"64.71", b"s%d" % version)
            await outbox.send()
            clock.now += 0.5
        during = [records for topic, _, records, _ in producer.batches if topic != "sitrep.status"]
        clock.now += 1.0  # 3 s after the first write
        await outbox.send()
        after_hold = [
            records for topic, _, records, _ in producer.batches if topic != "sitrep.status"
        ]
        outbox.add_change(areas, 0, b"64.71", b"v5")
        delivering = asyncio.ensure_future(outbox.delivered())  # before a commit: everything
        await asyncio.sleep(0.01)
        producer.acknowledge_all()
        await asyncio.wait_for(delivering, timeout=2)
        return during, after_hold, producer.batches

    during, after_hold, batches = run_in_own_loop(scenario)
    assert during == []
    assert after_hold == [[(b"64.71", b"v4")]]
    changelog = [records for topic, _, records, _ in batches if topic == "app-areas-changelog"]
    assert changelog == [[(b"64.71", b"v4")], [(b"64.71", b"v5")]]
    statuses = [records for topic, _, records, _ in batches if topic == "sitrep.status"]
    assert statuses == [[(b"64.71", b"s%d" % version)] for version in range(5)]
    assert areas.data.persisted == {("app-areas-changelog", 0): 1}


def test_held_changes_go_once_they_pass_the_byte_bound() -> None:
    areas = _table("areas")
    clock = _Clock()

    async def scenario() -> tuple[int, int, Outbox]:
        producer = _Producer()
        outbox = Outbox(lambda: producer, hold_s=60.0, hold_bytes=1000, clock=clock)
        outbox.add_change(areas, 0, b"a", b"x" * 600)
        await outbox.send()
        held = len(producer.batches)
        outbox.add_change(areas, 0, b"a", b"y" * 600)  # replaces: still 601 bytes held
        await outbox.send()
        still_held = len(producer.batches)
        outbox.add_change(areas, 0, b"b", b"z" * 600)
        await outbox.send()
        return held + still_held, len(producer.batches), outbox

    before, after, outbox = run_in_own_loop(scenario)
    assert (before, after) == (0, 1)
    assert (outbox.changes_added, outbox.changes_sent) == (3, 2)
    assert outbox.change_bytes_sent == 2 * 601
