"""The flush before a commit waits until the changelog records queued so far are delivered,
and only those."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, TypeVar

from faust.transport.producer import ProducerBuffer

from streams.app import drain_completely

T = TypeVar("T")


class _Sent:
    """Stands in for the Kafka producer: each record acknowledged a little after it was
    handed over (Faust resolves a record's future on the acknowledgement)."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    async def send(self, fut: Any) -> None:
        await asyncio.sleep(0.002)
        self.records.append(fut)
        fut.set_result(None)


def _run(scenario: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run`` in a thread of its own: an earlier test of the session may have left an
    event loop running in this one."""
    results: list[T] = []
    errors: list[BaseException] = []

    def main() -> None:
        try:
            results.append(asyncio.run(scenario()))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=main)
    thread.start()
    thread.join(60)
    if errors:
        raise errors[0]
    assert results, "the scenario did not finish within 60 s"
    return results[0]


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

    handed_over, queued = _run(scenario)
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

    finished, left = _run(scenario)
    assert finished
    assert left > 0  # the flush did not wait for records written after it began
