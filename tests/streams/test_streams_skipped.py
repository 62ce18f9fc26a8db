"""Records the consumer skipped (Faust committing past a "gap" around a rebalance) are found
from the partition clock's watermark and read straight from the topic before a batch is
applied: found by `sitrep chaos corrupt-state-store`, where one check-in never reached the
worker and the final status differed from a fault-free run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.admin import NewTopic

from sitrep import clients
from sitrep.settings import Settings
from streams.engine import Envelope
from streams.skipped import missing_ranges, with_skipped
from tests.streams.conftest import run_in_own_loop


def test_a_batch_that_follows_on_misses_nothing() -> None:
    assert missing_ranges(9, [10, 11, 12]) == []


def test_a_jump_before_or_inside_a_batch_is_a_missing_range() -> None:
    assert missing_ranges(9, [12, 13, 15]) == [(10, 11), (14, 14)]


def test_a_replay_from_before_the_watermark_misses_nothing() -> None:
    assert missing_ranges(20, [15, 16, 17, 18, 19, 20, 21]) == []
    assert missing_ranges(20, [15, 16, 23]) == [(21, 22)]


def test_a_partition_never_processed_has_nothing_to_miss() -> None:
    assert missing_ranges(-1, [40, 41]) == []


def envelope(topic: str, offset: int) -> Envelope:
    return Envelope(topic, 0, offset, b"64.71", f"report {offset}".encode())


@dataclass
class OnePartition:
    """A fresh one-partition topic holding ``report 0`` … ``report N-1`` at offsets 0 … N-1."""

    name: str
    admin: Any

    def fill(self, settings: Settings, count: int) -> None:
        producer = clients.kafka_producer(settings)
        try:
            for offset in range(count):
                producer.send(
                    self.name, key=b"64.71", value=f"report {offset}".encode(), partition=0
                )
            producer.flush()
        finally:
            producer.close()


@pytest.fixture
def topic(local_stack: Settings) -> Iterator[OnePartition]:
    name = f"skipped-{uuid.uuid4().hex[:8]}"
    admin = clients.kafka_admin(local_stack)
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    try:
        yield OnePartition(name, admin)
    finally:
        admin.delete_topics([name])
        admin.close()


@pytest.mark.integration
def test_skipped_records_are_read_from_the_topic_and_put_in_order(
    local_stack: Settings, topic: OnePartition
) -> None:
    topic.fill(local_stack, 10)
    # Processed up to 2; the consumer then handed over 5, 6 and 9, and 6 twice.
    delivered = [envelope(topic.name, o) for o in (6, 5, 6, 9)]
    repaired, read = run_in_own_loop(lambda: with_skipped(local_stack, 2, delivered))
    assert [e.offset for e in repaired] == [3, 4, 5, 6, 7, 8, 9]
    assert [e.value for e in repaired] == [f"report {o}".encode() for o in range(3, 10)]
    assert read == 4
    # Nothing skipped: nothing is read.
    in_order = [envelope(topic.name, o) for o in (3, 4)]
    assert run_in_own_loop(lambda: with_skipped(local_stack, 2, in_order)) == (in_order, 0)


@pytest.mark.integration
def test_records_the_retention_deleted_are_not_waited_for(
    local_stack: Settings, topic: OnePartition
) -> None:
    topic.fill(local_stack, 6)
    topic.admin.delete_records({TopicPartition(topic.name, 0): 4})  # as the retention would
    repaired, read = run_in_own_loop(
        lambda: with_skipped(local_stack, 1, [envelope(topic.name, 5)])
    )
    assert [e.offset for e in repaired] == [4, 5]
    assert read == 1
