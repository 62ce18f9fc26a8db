"""The flush before a commit waits until the changelog records queued so far are delivered,
and only those."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.transport.producer import ProducerBuffer

from streams.app import drain_completely
from tests.streams.conftest import run_in_own_loop


class _Sent:
    """Stands in for the Kafka producer: each record acknowledged a little after it was
    handed over (Faust resolves a record's future on the acknowledgement)."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    async def send(self, fut: Any) -> None:
        await asyncio.sleep(0.002)
        self.records.append(fut)
        fut.set_result(None)


async def _buffer(sent: _Sent) -> ProducerBuffer:
    buffer = ProducerBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    buffer._send_pending = sent.send  # type: ignore[method-assign]
    buffer.flush = drain_completely(buffer)  # type: ignore[method-assign]
    await buffer.start()
    return buffer


def test_flush_returns_once_every_record_queued_before_it_was_delivered() -> None:
    async def scenario() -> tuple[int, int]:
        sent = _Sent()
        buffer = await _buffer(sent)
        queued = [asyncio.get_running_loop().create_future() for _ in range(300)]
        for fut in queued:
            buffer.put(fut)
        await buffer.flush()
        handed_over = sum(1 for fut in queued if fut.done() and fut in sent.records)
        await buffer.stop()
        return handed_over, len(queued)

    handed_over, queued = run_in_own_loop(scenario)
    assert handed_over == queued


def test_flush_ends_while_the_agent_keeps_writing() -> None:
    """Faust's commit awaits this flush while the agent goes on queueing records: waiting
    for an empty queue made commits take half a minute under load."""

    async def scenario() -> tuple[bool, int]:
        sent = _Sent()
        buffer = await _buffer(sent)
        loop = asyncio.get_running_loop()
        first = [loop.create_future() for _ in range(50)]
        for fut in first:
            buffer.put(fut)
        writing = True

        async def agent() -> None:
            # Writes faster than the producer takes: the queue never runs empty.
            while writing:
                buffer.put(loop.create_future())
                buffer.put(loop.create_future())
                await asyncio.sleep(0.002)

        task = asyncio.create_task(agent())
        try:
            await asyncio.wait_for(buffer.flush(), timeout=5)
            finished = all(fut.done() for fut in first)
        finally:
            writing = False
            await task
        left = buffer.size
        while buffer.size:  # Faust refuses to stop with records still queued
            await asyncio.sleep(0.01)
        await buffer.stop()
        return finished, left

    finished, left = run_in_own_loop(scenario)
    assert finished
    assert left > 0  # the flush did not wait for records written after it began
