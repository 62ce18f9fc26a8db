"""Both HTTP services built in-process without the stack: the web app without its lifespan
(no Kafka consumer, no Elasticsearch) and the intake with a Kafka producer that only records.

Kafka clients the web builds on demand are replaced by ones that fail at once (a 503 after the
role check has passed), so the tests never wait for a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from fastapi import FastAPI
from kafka.errors import KafkaConnectionError
from kafka.future import Future

from producers.dedup import FingerprintStore
from producers.delivery import ReportWriter
from producers.intake.app import IntakeParts
from producers.intake.app import create_app as create_intake_app
from producers.intake.service import IntakeService
from producers.tokens import TokenStore, add_grant, make_grant, new_token
from schemas.registry import default_registry
from schemas.report import ReporterRole
from sinks.web import create_app as create_web_app
from sinks.web.operators import OperatorRole, add_operator, new_operator_grant
from sitrep import clients
from sitrep.ratelimit import RateLimit, RateLimiter
from sitrep.settings import Settings, load_settings

NOW = datetime(2024, 11, 27, 2, 0, tzinfo=UTC)
REPORTS_TOPIC = "sec.reports"
DEADLETTER_TOPIC = "sec.deadletter"
NO_LIMIT = RateLimit(0, 1)


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route of ``app``, routers included; ("MOUNT", path) for mounts."""
    try:  # FastAPI keeps included routers as groups of their own since 0.13x
        from fastapi.routing import iter_route_contexts

        found = [(ctx.path, ctx.methods) for ctx in iter_route_contexts(app.routes)]
    except ImportError:  # older FastAPI: the routes are flat
        found = [(route.path, getattr(route, "methods", None)) for route in app.routes]
    table: list[tuple[str, str]] = []
    for path, methods in found:
        assert path is not None
        if methods is None:
            table.append(("MOUNT", path))
        else:
            table.extend((method, path) for method in sorted(methods) if method != "HEAD")
    return table


def concrete(path: str) -> str:
    """A requestable path: every path parameter filled with a harmless, valid-looking id."""
    parts = [("x-1" if part.startswith("{") else part) for part in path.split("/")]
    return "/".join(parts)


def _no_broker(*_args: Any, **_kwargs: Any) -> Any:
    raise KafkaConnectionError("no broker in this test")


@pytest.fixture
def no_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients, "kafka_producer", _no_broker)
    monkeypatch.setattr(clients, "kafka_consumer", _no_broker)


@pytest.fixture
def base_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of this test alone (home in tmp_path), whatever the environment says."""
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    return load_settings(home=tmp_path / "home")


def with_web(settings: Settings, **web: Any) -> Settings:
    return settings.model_copy(update={"web": settings.web.model_copy(update=web)})


@dataclass
class WebApp:
    app: FastAPI
    settings: Settings
    tokens: dict[OperatorRole, str]

    def tokens_any(self) -> str:
        return self.tokens[OperatorRole.VIEWER]


def build_web(settings: Settings) -> WebApp:
    """The web app with one operator token per role, and an Elasticsearch nobody answers."""
    tokens: dict[OperatorRole, str] = {}
    for role in OperatorRole:
        token, grant = new_operator_grant(f"op-{role.value}", (role,), NOW)
        add_operator(settings.web.tokens_path(settings.home), grant)
        tokens[role] = token
    app = create_web_app(settings)
    # What the lifespan would set: an Elasticsearch client that fails at once (port 9).
    app.state.es = Elasticsearch("http://127.0.0.1:9", max_retries=0, request_timeout=2)
    return WebApp(app, settings, tokens)


@pytest.fixture
def web_factory(base_settings: Settings, no_kafka: None) -> Callable[..., WebApp]:
    def make(**web: Any) -> WebApp:
        return build_web(with_web(base_settings, **web))

    return make


@dataclass
class RecordingProducer:
    """A kafka-python producer stand-in: every send is acknowledged at once and kept."""

    sent: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> Future:
        self.sent.append((topic, key, value))
        future = Future()
        future.success(None)
        return future

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass

    def values(self, topic: str) -> list[bytes]:
        return [value for sent_topic, _, value in self.sent if sent_topic == topic]


@dataclass
class IntakeApp:
    app: FastAPI
    producer: RecordingProducer
    tokens: dict[str, str]  # name -> bearer token


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def build_intake(
    folder: Path,
    rate_limit: RateLimit = NO_LIMIT,
    cors_origins: tuple[str, ...] = (),
    clock: Callable[[], float] | None = None,
) -> Iterator[IntakeApp]:
    registry = default_registry()
    tokens_file = folder / "tokens.yaml"
    tokens = {"balikpapan": new_token(), "anywhere": new_token()}
    for name, regencies in (("balikpapan", ("64.71",)), ("anywhere", ())):
        grant = make_grant(
            tokens[name],
            unit=f"Polres {name}",
            role=ReporterRole.POLRES,
            regencies=regencies,
            registry=registry,
            created_at=NOW,
        )
        add_grant(tokens_file, grant)
    producer = RecordingProducer()
    dedup = FingerprintStore(folder / "accepted.sqlite", timedelta(days=1))
    service = IntakeService(
        writer=ReportWriter(producer, REPORTS_TOPIC, DEADLETTER_TOPIC),
        dedup=dedup,
        registry=registry,
        max_batch=20,
        ack_timeout_s=5,
    )

    async def ready() -> bool:
        return True

    parts = IntakeParts(
        service,
        TokenStore(tokens_file),
        ready,
        64 * 1024,
        rate_limiter=RateLimiter(rate_limit),
        cors_origins=cors_origins,
        clock=clock or FakeClock(),
    )
    try:
        yield IntakeApp(create_intake_app(parts), producer, tokens)
    finally:
        service.close()
        dedup.close()


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[IntakeApp]:
    with build_intake(tmp_path / "intake") as app:
        yield app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
