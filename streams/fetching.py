"""How long the broker may hold the worker's fetch requests: Faust fixes it at 1.5 s.

aiokafka keeps at most one fetch request in flight per broker, and leaves out of it every
partition whose records the worker has not taken yet. When all the busy partitions of a worker
are in that state, the request it sends covers only quiet ones (the command topic, an idle
roll-up partition); the broker holds it for the full ``fetch_max_wait_ms``, and the busy
partitions, drained meanwhile, wait behind it. Faust builds its consumer with 1,500 ms, so a
worker under load received its reports in lumps about 2 s late (docs/performance.md).

This keeps Faust's consumer and replaces only that one number, before aiokafka starts its
fetcher (which reads it once, at start).
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer


def prompt_fetch_consumer(fetch_max_wait_ms: int) -> type[Consumer]:
    """Faust's aiokafka consumer, with the broker's wait for data bounded by fetch_max_wait_ms."""

    class PromptFetchConsumerThread(AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class PromptFetchConsumer(Consumer):
        def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
            return PromptFetchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    return PromptFetchConsumer
