"""Fixtures for the sinks tests: report builders, and for integration tests an isolated set of
topics and indices per test (own prefix, own consumer group), cleaned up afterwards."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.registry import AreaRegistry, default_registry
from schemas.report import FieldReport, parse_report, report_to_json_bytes
from sitrep.settings import Settings, TopicNames

ReportFactory = Callable[..., FieldReport]

BASE_TIME = datetime(2024, 2, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def registry() -> AreaRegistry:
    return default_registry()


def build_report(registry: AreaRegistry, **overrides: Any) -> FieldReport:
    """A valid report in Kota Balikpapan (64.71) unless overridden; times as given."""
    occurred = overrides.pop("occurred_at", BASE_TIME)
    if isinstance(occurred, datetime):
        occurred = occurred.isoformat()
    received = overrides.pop("received_at", None)
    if received is None:
        received = (datetime.fromisoformat(occurred) + timedelta(seconds=30)).isoformat()
    elif isinstance(received, datetime):
        received = received.isoformat()
    raw: dict[str, Any] = {
        "report_id": f"r-{uuid.uuid4().hex[:12]}",
        "occurred_at": occurred,
        "received_at": received,
        "district": "64.71",
        "kind": "incident",
        "category": "clash",
        "severity": 3,
        "reporter": {"unit": "Polsek Balikpapan Selatan", "role": "polsek"},
        "source": "app",
        "phase": "campaign",
        "text": "Terjadi bentrokan antar pendukung di depan kantor Bawaslu.",
        "schema_version": 1,
        **overrides,
    }
    import json

    return parse_report(json.dumps(raw), registry)


@pytest.fixture
def make_report(registry: AreaRegistry) -> ReportFactory:
    def factory(**overrides: Any) -> FieldReport:
        return build_report(registry, **overrides)

    return factory


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


# --- integration ----------------------------------------------------------------------------------


@pytest.fixture
def isolated(local_stack: Settings) -> Iterator[Settings]:
    """Settings with topics, consumer group and index prefix of this test alone."""
    from sitrep import clients
    from sitrep.topics import desired_topics, ensure_topics

    tag = f"it{uuid.uuid4().hex[:8]}"
    topics = TopicNames(
        reports=f"{tag}.reports",
        deadletter=f"{tag}.deadletter",
        status=f"{tag}.status",
        alerts=f"{tag}.alerts",
    )
    kafka = local_stack.kafka.model_copy(update={"topics": topics, "partitions": 3})
    indexer = local_stack.indexer.model_copy(
        update={
            "index_prefix": tag,
            "group_id": f"{tag}-indexer",
            "metrics_port": 0,
            "retry_initial_ms": 100,
            "retry_max_ms": 2000,
        }
    )
    settings = local_stack.model_copy(update={"kafka": kafka, "indexer": indexer})
    admin = clients.kafka_admin(settings)
    ensure_topics(admin, desired_topics(settings.kafka))
    yield settings
    try:
        admin.delete_topics(list(topics.model_dump().values()))
    finally:
        admin.close()
    es = clients.elasticsearch(local_stack)
    try:
        es.options(ignore_status=404).indices.delete(index=f"{tag}-*", expand_wildcards="all")
        for family in ("reports", "status", "status-history", "alerts"):
            es.options(ignore_status=404).indices.delete_index_template(name=f"{tag}-{family}")
        es.options(ignore_status=404).cluster.delete_component_template(name=f"{tag}-settings")
    finally:
        es.close()


@pytest.fixture
def es(local_stack: Settings) -> Iterator[Any]:
    from sitrep import clients

    client = clients.elasticsearch(local_stack)
    yield client
    client.close()


@contextmanager
def running_indexer(settings: Settings) -> Iterator[Any]:
    """The real indexer on a thread; stopped (and its error re-raised) on exit."""
    from sinks.indexer.app import run_indexer
    from sinks.indexer.metrics import IndexerMetrics

    stop = threading.Event()
    metrics = IndexerMetrics()
    failures: list[BaseException] = []

    def target() -> None:
        try:
            run_indexer(settings, stop, metrics)
        except BaseException as exc:  # surfaced in the test thread
            failures.append(exc)

    thread = threading.Thread(target=target, name="test-indexer", daemon=True)
    thread.start()
    try:
        yield metrics
    finally:
        stop.set()
        thread.join(60)
        assert not thread.is_alive(), "indexer did not stop"
        if failures:
            raise failures[0]


@pytest.fixture
def indexer() -> Callable[[Settings], Any]:
    return running_indexer


def send_all(
    settings: Settings, topic: str, records: list[tuple[bytes | None, bytes | None]]
) -> None:
    """Write (key, value) records and wait for every acknowledgement."""
    from sitrep import clients

    producer = clients.kafka_producer(settings)
    try:
        futures = [producer.send(topic, key=key, value=value) for key, value in records]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()


@pytest.fixture
def send() -> Callable[..., None]:
    return send_all


def report_record(report: FieldReport) -> tuple[bytes, bytes]:
    return report.district.encode(), report_to_json_bytes(report)


@pytest.fixture
def as_record() -> Callable[[FieldReport], tuple[bytes, bytes]]:
    return report_record


def read_all(settings: Settings, topic: str, timeout_ms: int = 3000) -> list[Any]:
    from sitrep import clients

    consumer = clients.kafka_consumer(
        settings, topic, group_id=None, consumer_timeout_ms=timeout_ms
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


@pytest.fixture
def read_topic() -> Callable[..., list[Any]]:
    return read_all


@pytest.fixture
def wait() -> Callable[[Callable[[], bool], float, str], None]:
    return wait_until
