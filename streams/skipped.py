"""Reports the consumer never handed over, read straight from the topic.

Faust can skip a record around a rebalance: it marks a jump in offsets as a "gap", counts the
gap as acknowledged and commits past it, and the record is never delivered (seen in `sitrep
chaos corrupt-state-store`: one check-in, delivered to no agent, was missing from the final
status). Reports have contiguous offsets (no transactions, no compaction), so the partition
clock's watermark (the highest offset processed) shows every such hole before a batch is
applied. The worker then reads the missing records itself and applies them first, in offset
order, as an uninterrupted run would have.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from streams.engine import Envelope

if TYPE_CHECKING:
    from sitrep.settings import Settings

log = structlog.get_logger("streams.skipped")

READ_TIMEOUT_S = 30.0


def missing_ranges(watermark: int, offsets: Sequence[int]) -> list[tuple[int, int]]:
    """Inclusive offset ranges after ``watermark`` (the highest offset processed, -1 for
    none) that a batch with these ascending offsets jumps over. A replay (offsets at or
    below the watermark) misses nothing."""
    if watermark < 0:
        return []  # nothing processed yet: the batch starts wherever the group starts
    ranges: list[tuple[int, int]] = []
    expected = watermark + 1
    for offset in offsets:
        if offset > expected:
            ranges.append((expected, offset - 1))
        expected = max(expected, offset + 1)
    return ranges


async def read_range(
    settings: Settings, topic: str, partition: int, first: int, last: int
) -> list[Envelope]:
    """The records ``first..last`` of one partition, with a consumer of no group (it commits
    nothing). Records the retention already deleted are simply not there."""
    from aiokafka import TopicPartition

    from sitrep import clients

    tp = TopicPartition(topic, partition)
    consumer = clients.aiokafka_consumer(settings, group_id=None, client_id="sitrep-worker-skipped")
    await consumer.start()
    found: list[Envelope] = []
    try:
        consumer.assign([tp])
        consumer.seek(tp, first)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while await consumer.position(tp) <= last:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"could not read offsets {first}..{last} of {topic}[{partition}] "
                    f"within {READ_TIMEOUT_S:.0f} s"
                )
            batches = await consumer.getmany(tp, timeout_ms=1000, max_records=1000)
            for record in batches.get(tp, []):
                if first <= record.offset <= last and record.value is not None:
                    found.append(
                        Envelope(topic, partition, record.offset, record.key, record.value)
                    )
    finally:
        await consumer.stop()
    return found


async def with_skipped(
    settings: Settings, watermark: int, envelopes: Sequence[Envelope]
) -> tuple[list[Envelope], int]:
    """``envelopes`` of one partition in offset order (each offset once: around a rebalance a
    batch can hold records from before and after it), with whatever the consumer skipped
    since ``watermark`` read from the topic and put in place; and how many were read."""
    ordered = sorted({e.offset: e for e in envelopes}.values(), key=lambda e: e.offset)
    ranges = missing_ranges(watermark, [e.offset for e in ordered])
    if not ranges:
        return ordered, 0
    first = ordered[0]
    recovered: list[Envelope] = []
    for start, end in ranges:
        recovered.extend(await read_range(settings, first.topic, first.partition, start, end))
    log.warning(
        "records the consumer skipped were read from the topic",
        partition=first.partition,
        ranges=[f"{start}-{end}" for start, end in ranges],
        recovered=len(recovered),
    )
    return sorted([*ordered, *recovered], key=lambda e: e.offset), len(recovered)
