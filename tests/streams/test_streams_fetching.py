"""The worker's fetch requests ask the broker to wait at most fetch_max_wait_ms (Faust: 1.5 s).

Checked on the wire, against the real Kafka: the fetch requests of the consumer Faust builds
for the worker's app (``build_worker``, the composition root).
A quiet partition in the request otherwise holds back the busy ones (streams.fetching).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
from aiokafka import TopicPartition
from aiokafka.protocol.fetch import FetchRequest

from streams.app import build_worker
from tests.streams.conftest import Isolated, run_in_own_loop


def waits_sent(make_app: Callable[[], Any], topic: str) -> set[int]:
    """The max wait of the fetch requests the app's worker consumer sends in its first second."""

    async def scenario() -> set[int]:
        app = make_app()
        thread = app.consumer._thread  # the consumer Faust itself would start
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
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.seek_to_end()
            await asyncio.sleep(1.0)
        finally:
            await consumer.stop()
        return waits

    return run_in_own_loop(scenario)


def test_the_worker_sends_its_configured_wait(isolated: Isolated, tmp_path: Path) -> None:
    settings = isolated.settings_for()
    worker = settings.worker.model_copy(
        update={
            "app_id": f"{isolated.prefix}-worker",
            "store": "memory",
            "data_dir": tmp_path,
            "fetch_max_wait_ms": 77,
        }
    )
    settings = settings.model_copy(update={"worker": worker})
    assert waits_sent(lambda: build_worker(settings).app, settings.kafka.topics.reports) == {77}


def test_faust_alone_would_send_its_own_wait(isolated: Isolated) -> None:
    """Guards the spy above: a plain Faust app's requests carry Faust's 1,500 ms."""
    settings = isolated.settings_for()

    def plain_app() -> Any:
        return faust.App(
            f"{isolated.prefix}-plain",
            broker=f"kafka://{settings.kafka.bootstrap_servers}",
            autodiscover=False,
        )

    assert waits_sent(plain_app, settings.kafka.topics.reports) == {1500}
