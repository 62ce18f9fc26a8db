"""Fixtures for the sinks tests: report builders, and for integration tests an isolated set of
topics and indices per test (own prefix, own consumer group), cleaned up afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.registry import AreaRegistry, default_registry
from schemas.report import FieldReport, parse_report, report_to_json_bytes
from sitrep.ports import free_port
from sitrep.settings import Settings, TopicNames
from tests.monitoring import monitoring_auth, monitoring_env

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


def with_anonymous_role(settings: Settings, role: str) -> Settings:
    """``settings`` whose web service lets requests without credentials act as ``role``
    (SITREP_WEB__ANONYMOUS_ROLE): for tests about search or reports, not about logins."""
    web = settings.web.model_copy(update={"anonymous_role": role})
    return settings.model_copy(update={"web": web})


@pytest.fixture
def make_report(registry: AreaRegistry) -> ReportFactory:
    def factory(**overrides: Any) -> FieldReport:
        return build_report(registry, **overrides)

    return factory


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Until ``check()`` holds. While Elasticsearch is (re)starting its shards a check may
    fail with a 5xx or a connection error: that counts as "not yet", not as the answer."""
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ApiError as exc:
            if exc.meta.status < 500:
                raise
            last_error = exc
        except TransportError as exc:
            last_error = exc
        time.sleep(0.2)
    detail = f" (last error: {last_error})" if last_error else ""
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}{detail}")


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
        drop_indices(es, tag)
    finally:
        es.close()


def drop_indices(es: Any, prefix: str) -> None:
    """Remove a test's indices and index templates (those of index prefix ``prefix``)."""
    from sinks.es.setup import drop_everything

    drop_everything(es, prefix)


@pytest.fixture
def es(local_stack: Settings) -> Iterator[Any]:
    from sitrep import clients

    client = clients.elasticsearch(local_stack)
    yield client
    client.close()


class IndexerProcess:
    """A real `sitrep index` process (one consumer per process, as deployed) and its metrics.

    Metrics are read from its Prometheus endpoint; after it stopped, from the last scrape
    taken just before the stop.
    """

    def __init__(self, process: subprocess.Popen[bytes], metrics_port: int, log_file: Path):
        self.process = process
        self.metrics_port = metrics_port
        self.log_file = log_file
        self._final: list[Any] | None = None

    def value(self, sample_name: str, **labels: str) -> float:
        """Sum of the samples called ``sample_name`` whose labels include ``labels``."""
        return sum(
            sample.value
            for family in self._families()
            for sample in family.samples
            if sample.name == sample_name
            and all(sample.labels.get(key) == wanted for key, wanted in labels.items())
        )

    def log_tail(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:]

    def snapshot(self) -> None:
        self._final = self._scrape()

    def _families(self) -> list[Any]:
        return self._final if self._final is not None else self._scrape()

    def _scrape(self) -> list[Any]:
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        deadline = time.monotonic() + 30
        while True:
            try:
                text = httpx.get(url, headers=monitoring_auth(), timeout=5).text
                return list(text_string_to_metric_families(text))
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise AssertionError(f"no metrics at {url}:\n{self.log_tail()}") from None
                time.sleep(0.2)


def indexer_env(settings: Settings, metrics_port: int) -> dict[str, str]:
    """The environment that gives `sitrep index` these settings (topics, group, indices)."""
    indexer = settings.indexer.model_copy(update={"metrics_port": metrics_port})
    return {
        **os.environ,
        "SITREP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SITREP_ELASTICSEARCH__URL": settings.elasticsearch.url,
        **{f"SITREP_KAFKA__TOPICS__{name.upper()}": topic for name, topic in settings.kafka.topics},
        **{
            f"SITREP_INDEXER__{name.upper()}": str(value)
            for name, value in indexer.model_dump().items()
            if value is not None
        },
        "SITREP_LOG__FORMAT": "json",
        **monitoring_env(),
    }


@contextmanager
def running_indexer(settings: Settings) -> Iterator[IndexerProcess]:
    """`sitrep index` as its own process; stopped with SIGTERM (it finishes its batch, commits
    and leaves the group). A failing test gets the indexer's log appended."""
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="sitrep-indexer-"))
    log_file = log_dir / "indexer.log"
    sitrep = str(Path(sys.executable).with_name("sitrep"))
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sitrep, "index"], env=indexer_env(settings, port), stdout=log, stderr=log
        )
    indexer = IndexerProcess(process, port, log_file)
    try:
        yield indexer
        indexer.snapshot()
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n--- indexer log ---\n{indexer.log_tail()}") from None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode in (0, -signal.SIGTERM), indexer.log_tail()
    shutil.rmtree(log_dir, ignore_errors=True)


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
