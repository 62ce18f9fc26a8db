"""Composition of the HTTP intake: settings -> Kafka producer, stores, app; run with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import structlog
from fastapi import FastAPI

from producers.dedup import FingerprintStore
from producers.delivery import ReportWriter
from producers.intake.app import IntakeParts, create_app
from producers.intake.checks import CheckerPool
from producers.intake.service import IntakeService
from producers.tokens import TokenStore
from schemas.registry import default_registry
from sitrep import clients
from sitrep.log_setup import quiet_library_logs
from sitrep.ratelimit import RateLimit, RateLimiter
from sitrep.settings import Settings
from sitrep.tracing import tracing_for

log = structlog.get_logger("producers.intake")


class KafkaReadiness:
    """Answers "is Kafka reachable?" by asking the cluster for its brokers (cached briefly).

    The producer's own connections say little: they stay up while idle brokers are gone and are
    closed while idle brokers are fine; a metadata round trip says what a readiness probe means.
    """

    def __init__(self, settings: Settings, cache_s: float = 2.0) -> None:
        self._settings = settings
        self._cache_s = cache_s
        self._checked = 0.0
        self._ready = False
        self._admin: Any = None

    async def __call__(self) -> bool:
        if time.monotonic() - self._checked > self._cache_s:
            self._ready = await asyncio.to_thread(self._probe)
            self._checked = time.monotonic()
        return self._ready

    def _probe(self) -> bool:
        with quiet_library_logs():
            try:
                if self._admin is None:
                    self._admin = clients.kafka_admin(
                        self._settings,
                        client_id="sitrep-intake-readiness",
                        request_timeout_ms=3000,
                        bootstrap_timeout_ms=3000,
                    )
                return bool(self._admin.describe_cluster().get("brokers"))
            except Exception as exc:  # any failure to reach Kafka means "not ready"
                log.warning("kafka not reachable", error=str(exc))
                self.close()
                return False

    def close(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            # Closing a broken client may fail; there is nothing left to do then.
            with contextlib.suppress(Exception):
                admin.close()


@contextmanager
def intake_app(settings: Settings) -> Iterator[FastAPI]:
    """The app with everything it needs; on exit the producer is flushed and closed."""
    app, close = build_app(settings)
    try:
        yield app
    finally:
        close()


def app_from_environment() -> FastAPI:
    """Factory for uvicorn worker processes (``--workers`` > 1): settings from the environment,
    resources closed when the worker shuts down."""
    from sitrep.log_setup import configure_logging
    from sitrep.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log.level, settings.log.format)
    app, _ = build_app(settings)  # the app's lifespan closes what it holds
    return app


def build_app(settings: Settings) -> tuple[FastAPI, Callable[[], None]]:
    """The app and the function that flushes and closes what it holds."""
    intake = settings.intake
    # Validation runs beside the event loop, in processes of its own (spawned).
    checkers = CheckerPool(intake.validation_workers) if intake.validation_workers else None
    producer = clients.kafka_producer(
        settings, client_id="sitrep-intake", max_block_ms=intake.max_block_ms
    )
    writer = ReportWriter(producer, settings.kafka.topics.reports, settings.kafka.topics.deadletter)
    dedup = FingerprintStore(
        intake.dedup_path(settings.home), timedelta(days=intake.dedup_retention_days)
    )
    readiness = KafkaReadiness(settings)
    tracing = tracing_for(settings, "intake")
    service = IntakeService(
        writer=writer,
        dedup=dedup,
        registry=default_registry(),
        max_batch=intake.max_batch,
        ack_timeout_s=intake.ack_timeout_s,
        checkers=checkers,
        tracing=tracing,
    )
    tokens = TokenStore(intake.tokens_path(settings.home))
    if not tokens.count:
        log.warning("no API tokens: every request will be refused", file=str(tokens.path))
    closed = threading.Event()

    def close() -> None:
        if closed.is_set():
            return
        closed.set()
        writer.flush(timeout_s=30)
        writer.close(timeout_s=30)
        readiness.close()
        service.close()
        dedup.close()
        tracing.shutdown()
        log.info("intake closed: Kafka flushed")

    app = create_app(
        IntakeParts(
            service,
            tokens,
            readiness,
            intake.max_body_bytes,
            close,
            rate_limiter=RateLimiter(RateLimit(intake.rate_limit_per_s, intake.rate_limit_burst)),
            cors_origins=intake.cors_origins,
        )
    )
    return app, close


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    log.info(
        "intake listening",
        host=host,
        port=port,
        workers=workers,
        topic=settings.kafka.topics.reports,
    )
    # log_config=None keeps our structlog setup; uvicorn's access log would be one line per
    # request at thousands of requests/s, so it is off (metrics count requests instead).
    if workers > 1:
        uvicorn.run(
            "producers.intake.run:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
        )
        return
    app, close = build_app(settings)
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    finally:
        close()  # normally done already by the app's lifespan
