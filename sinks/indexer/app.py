"""Composition of the indexer: clients from settings, setup, the loop, clean shutdown."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Mapping

import structlog
from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from schemas.registry import default_registry
from sinks.es.names import IndexNames
from sinks.es.setup import SetupResult, setup
from sinks.indexer.delivery import Deliverer, backoff_seconds
from sinks.indexer.metrics import IndexerMetrics
from sinks.indexer.records import PlanContext, TopicKind
from sinks.indexer.runner import Indexer
from sitrep import clients
from sitrep.deadletter import DeadLetterWriter
from sitrep.log_setup import quiet_library_logs
from sitrep.morphology import default_stemmer
from sitrep.settings import Settings
from sitrep.tracing import tracing_for

log = structlog.get_logger("sinks.indexer")


def topic_kinds(settings: Settings) -> Mapping[str, TopicKind]:
    topics = settings.kafka.topics
    return {
        topics.reports: TopicKind.REPORTS,
        topics.status: TopicKind.STATUS,
        topics.alerts: TopicKind.ALERTS,
    }


def setup_when_reachable(
    es: Elasticsearch, settings: Settings, stop: threading.Event
) -> SetupResult | None:
    """``sitrep es setup``, retried until Elasticsearch answers (None if stopped first)."""
    attempt = 0
    while not stop.is_set():
        try:
            return setup(es, settings.indexer)
        except (TransportError, ApiError) as exc:
            if isinstance(exc, ApiError) and exc.meta.status < 500 and exc.meta.status != 429:
                raise
            attempt += 1
            delay = backoff_seconds(
                attempt,
                settings.indexer.retry_initial_ms / 1000,
                settings.indexer.retry_max_ms / 1000,
            )
            log.warning(
                "elasticsearch not reachable for setup",
                error=str(exc)[:200],
                retry_in_s=round(delay, 2),
            )
            stop.wait(delay)
    return None


def stalled(heartbeat: float, now: float, limit_s: float) -> bool:
    """Whether the consume loop (heartbeat = Unix time of its last turn, 0 = not started)
    has not turned for longer than ``limit_s``."""
    return heartbeat > 0 and now - heartbeat > limit_s


def loop_stalled(metrics: IndexerMetrics, limit_s: float) -> bool:
    """Whether the consume loop has stopped turning (its heartbeat is older than ``limit_s``)."""
    return stalled(metrics.loop_heartbeat._value.get(), time.time(), limit_s)


def watch_for_stalls(
    metrics: IndexerMetrics, limit_s: float, stop: threading.Event, on_stall: Callable[[], None]
) -> threading.Thread:
    """A daemon thread that calls ``on_stall`` if the loop stops turning (a client call that
    never returns). Exiting lets the supervisor restart the indexer; uncommitted records are
    read again, so nothing is lost."""

    def watch() -> None:
        while not stop.wait(min(5.0, limit_s / 4)):
            if loop_stalled(metrics, limit_s):
                log.error("indexer loop stalled; exiting for a restart", stalled_s=limit_s)
                on_stall()
                return

    thread = threading.Thread(target=watch, name="sitrep-indexer-watchdog", daemon=True)
    thread.start()
    return thread


def run_indexer(
    settings: Settings, stop: threading.Event, metrics: IndexerMetrics | None = None
) -> None:
    """Index until ``stop`` is set. Builds and closes every client it uses."""
    metrics = metrics or IndexerMetrics()
    # The transport logs a traceback for every refused connection while we retry; the
    # indexer's own "retrying" line says the same once per attempt.
    with quiet_library_logs("elastic_transport"):
        _run(settings, stop, metrics)


def _run(settings: Settings, stop: threading.Event, metrics: IndexerMetrics) -> None:
    es = clients.elasticsearch(settings)
    try:
        if setup_when_reachable(es, settings, stop) is None:
            return
        producer = clients.kafka_producer(settings, client_id="sitrep-indexer-deadletter")
        try:
            context = PlanContext(
                IndexNames(settings.indexer.index_prefix), default_registry(), default_stemmer()
            )
            # The registry and dictionaries are loaded for good: keep them out of the cyclic
            # garbage collector's full passes, which otherwise walk them again and again.
            gc.freeze()
            deliverer = Deliverer(
                es,
                DeadLetterWriter(producer, settings.kafka.topics.deadletter),
                settings.indexer,
                metrics,
                stop,
            )
            asyncio.run(_consume(settings, stop, metrics, deliverer, context))
        finally:
            producer.close(timeout=10)
    finally:
        es.close()


async def _consume(
    settings: Settings,
    stop: threading.Event,
    metrics: IndexerMetrics,
    deliverer: Deliverer,
    context: PlanContext,
) -> None:
    from aiokafka.errors import KafkaConnectionError

    attempt = 0
    while True:
        consumer = clients.aiokafka_consumer(
            settings,
            group_id=settings.indexer.group_id,
            client_id="sitrep-indexer",
            max_poll_records=settings.indexer.max_poll_records,
            max_poll_interval_ms=settings.indexer.max_poll_interval_ms,
            rebalance_timeout_ms=settings.indexer.rebalance_timeout_ms,
            fetch_max_wait_ms=settings.indexer.fetch_max_wait_ms,
        )
        try:
            await consumer.start()
            break
        except KafkaConnectionError as exc:
            await consumer.stop()
            attempt += 1
            delay = backoff_seconds(
                attempt,
                settings.indexer.retry_initial_ms / 1000,
                settings.indexer.retry_max_ms / 1000,
            )
            log.warning("kafka not reachable", error=str(exc)[:200], retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)
            if stop.is_set():
                return
    tracing = tracing_for(settings, "indexer")
    try:
        indexer = Indexer(
            settings.indexer,
            consumer,
            deliverer,
            topic_kinds(settings),
            context,
            metrics,
            tracing=tracing,
        )
        await indexer.run(stop)
    finally:
        tracing.shutdown()
        # Leaves the group at once, so the partitions move to the other members without
        # waiting for the session to time out. Nothing is committed here: the loop did that.
        await consumer.stop()
