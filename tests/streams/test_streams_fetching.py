"""The worker's fetch requests ask the broker to wait at most fetch_max_wait_ms (Faust: 1.5 s).

Checked on the wire, against the real Kafka: the fetch requests the consumer Faust builds sends.
A quiet partition in the request otherwise holds back the busy ones (streams.fetching).
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from aiokafka import TopicPartition
from aiokafka.protocol.fetch import FetchRequest
from faust.transport.drivers.aiokafka import Consumer

from sitrep.settings import Settings
from streams.fetching import prompt_fetch_consumer
from tests.streams.conftest import run_in_own_loop


def waits_sent(settings: Settings, consumer_class: type[Consumer] | None) -> set[int]:
    """The max wait of the fetch requests Faust's worker consumer sends in its first second."""

    async def scenario() -> set[int]:
        app = faust.App(
            "sitrep-fetch-wait-test",
            broker=f"kafka://{settings.kafka.bootstrap_servers}",
            autodiscover=False,
        )
        if consumer_class is not None:
            app.transport.Consumer = consumer_class
        thread = app.consumer._thread  # type: ignore[attr-defined]
        consumer = thread._create_worker_consumer(app.transport)
        await consumer.start()
        waits: set[int] = set()
        client_send = consumer._client.send

        async def send(node_id: int, request: Any, **options: Any) -> Any:
            if isinstance(request, FetchRequest):
                waits.add(request._max_wait_ms)
            return await client_send(node_id, request, **options)

        consumer._client.send = send
        try:
            consumer.assign([TopicPartition(settings.kafka.topics.reports, 0)])
            await consumer.seek_to_end()
            await asyncio.sleep(1.0)
        finally:
            await consumer.stop()
        return waits

    return run_in_own_loop(scenario)


def test_the_worker_consumer_sends_the_configured_wait(local_stack: Settings) -> None:
    assert waits_sent(local_stack, prompt_fetch_consumer(77)) == {77}


def test_faust_alone_would_send_its_own_wait(local_stack: Settings) -> None:
    """Guards the spy above: without streams.fetching the requests carry Faust's 1,500 ms."""
    assert waits_sent(local_stack, None) == {1500}
