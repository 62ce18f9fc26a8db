"""Fixtures for the situation engine: reports, an engine over a dict store, worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest

from schemas.registry import AreaRegistry, default_registry
from schemas.status import AreaStatus
from sitrep.ports import free_port
from sitrep.settings import Settings
from streams.area import AreaState
from streams.engine import Envelope, MemoryStore, PartitionEngine, Table
from streams.render import render_area
from streams.scoring import ScoringConfig, load_scoring_config
from tests.monitoring import monitoring_env
from tests.processes import terminate

WITA = ZoneInfo("Asia/Makassar")
T0 = datetime(2024, 2, 14, 8, 0, tzinfo=WITA)
DATA = Path(__file__).parent / "data"
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def registry() -> AreaRegistry:
    return default_registry()


@pytest.fixture(scope="session")
def config() -> ScoringConfig:
    return load_scoring_config()


ReportFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def report() -> ReportFactory:
    """A valid wire report (dict) ``minutes`` after 2024-02-14 08:00 WITA."""
    counter = iter(range(1, 1_000_000))

    def make(
        minutes: float = 0,
        *,
        report_id: str | None = None,
        district: str = "64.71",
        subdistrict: str | None = "64.71.01",
        kind: str = "incident",
        category: str = "clash",
        severity: int = 4,
        incident_id: str | None = None,
        state: str = "open",
        delay_s: float = 30,
    ) -> dict[str, Any]:
        occurred = T0 + timedelta(minutes=minutes)
        data: dict[str, Any] = {
            "report_id": report_id or f"r-{next(counter):04d}",
            "occurred_at": occurred.isoformat(),
            "received_at": (occurred + timedelta(seconds=delay_s)).isoformat(),
            "district": district,
            "kind": kind,
            "category": category,
            "severity": severity,
            "incident_state": state,
            "reporter": {"unit": "Polsek Uji", "role": "polsek"},
            "source": "app",
            "phase": "campaign",
            "text": "laporan uji",
            "schema_version": 1,
        }
        if subdistrict:
            data["subdistrict"] = subdistrict
        if incident_id:
            data["incident_id"] = incident_id
        return data

    return make


@dataclass
class EngineHarness:
    """The pure engine over a dict store, fed like the worker feeds it."""

    engine: PartitionEngine
    registry: AreaRegistry
    config: ScoringConfig
    store: MemoryStore = field(default_factory=MemoryStore)
    offset: int = 0
    partition: int = 0
    dead_letters: list[Any] = field(default_factory=list)

    def feed(self, *records: dict[str, Any] | bytes, batch: int = 1) -> None:
        raws = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in records]
        envelopes = []
        for raw in raws:
            envelopes.append(Envelope("sitrep.reports", self.partition, self.offset, b"k", raw))
            self.offset += 1
        for start in range(0, len(envelopes), batch):
            result = self.engine.process(
                self.partition, envelopes[start : start + batch], self.store, datetime.now(UTC)
            )
            self.dead_letters.extend(result.dead_letters)

    def state(self, code: str) -> AreaState:
        raw = self.store.get(Table.AREAS, code)
        assert raw is not None, f"no state for {code}"
        return AreaState.decode(raw)

    def status(self, code: str, at_minutes: float | None = None) -> AreaStatus:
        state = self.state(code)
        now = state.clock if at_minutes is None else _minute(T0 + timedelta(minutes=at_minutes))
        assert now is not None
        return render_area(
            state, self.registry.require(code), now, self.config, WITA, datetime.now(WITA)
        )


def _minute(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


@pytest.fixture
def harness(registry: AreaRegistry, config: ScoringConfig) -> EngineHarness:
    return EngineHarness(PartitionEngine(config, registry, WITA), registry, config)


# --- integration: isolated topics and worker subprocesses -------------------------------------


@dataclass
class Isolated:
    """Topics of their own for one test (the shared stack's sitrep.* topics stay untouched)."""

    settings: Settings
    prefix: str

    def topics(self) -> dict[str, str]:
        from sitrep.settings import TopicNames

        return {name: f"{self.prefix}.{name}" for name in TopicNames.model_fields}

    def settings_for(self) -> Settings:
        from sitrep.settings import KafkaSettings, TopicNames

        kafka = self.settings.kafka.model_copy(update={"topics": TopicNames(**self.topics())})
        assert isinstance(kafka, KafkaSettings)
        return self.settings.model_copy(update={"kafka": kafka})


@pytest.fixture
def isolated(local_stack: Settings) -> Iterator[Isolated]:
    from sitrep import clients
    from sitrep.topics import desired_topics, ensure_topics

    prefix = f"it-{uuid.uuid4().hex[:8]}"
    isolated = Isolated(local_stack, prefix)
    admin = clients.kafka_admin(local_stack)
    try:
        ensure_topics(admin, desired_topics(isolated.settings_for().kafka))
    finally:
        admin.close()
    yield isolated
    admin = clients.kafka_admin(local_stack)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(prefix)]
        if mine:
            admin.delete_topics(mine, timeout_ms=30_000)
    finally:
        admin.close()


class WorkerProcess:
    """``sitrep worker`` as a real subprocess, with its own app id, port and data dir."""

    def __init__(self, isolated: Isolated, app_id: str, status_topic: str, data_dir: Path):
        self.port = free_port()
        self.app_id = f"{isolated.prefix}-{app_id}"
        self.log_path = data_dir / f"{app_id}.log"
        topics = isolated.topics()
        self.env = {
            **os.environ,
            "SITREP_HOME": str(isolated.settings.home),
            "SITREP_KAFKA__BOOTSTRAP_SERVERS": isolated.settings.kafka.bootstrap_servers,
            "SITREP_KAFKA__TOPICS__REPORTS": topics["reports"],
            "SITREP_KAFKA__TOPICS__DEADLETTER": topics["deadletter"],
            "SITREP_KAFKA__TOPICS__ALERTS": topics["alerts"],
            "SITREP_KAFKA__TOPICS__ALERT_COMMANDS": topics["alert_commands"],
            "SITREP_KAFKA__TOPICS__SILENCES": topics["silences"],
            "SITREP_KAFKA__TOPICS__DELIVERIES": topics["deliveries"],
            "SITREP_KAFKA__TOPICS__STATUS": status_topic,
            "SITREP_WORKER__APP_ID": self.app_id,
            "SITREP_WORKER__WEB_PORT": str(self.port),
            "SITREP_WORKER__DATA_DIR": str(data_dir),
            "SITREP_WORKER__EMIT_INTERVAL_MS": "200",
            "SITREP_WORKER__SESSION_TIMEOUT_S": "6",
            "SITREP_PROVINCE_CODE": "64",
            "SITREP_LOG__FORMAT": "json",
            **monitoring_env(),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *args: str, command: str = "worker", **env: str) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "sitrep"), command, *args],
            cwd=PROJECT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def health(self) -> dict[str, Any] | None:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
        except httpx.HTTPError:
            return None
        body: dict[str, Any] = response.json()
        return body

    def wait_ready(self, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.tail()
            health = self.health()
            if health and health.get("status") == "ok":
                return health
            time.sleep(0.2)
        raise AssertionError(f"worker not ready after {timeout}s\n{self.tail()}")

    def wait_exit(self, timeout: float = 120) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker still running after {timeout}s\n{self.tail()}") from None

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def read_topic(settings: Settings, topic: str, idle_ms: int = 2000) -> list[tuple[str, bytes]]:
    """Every record of a topic from the beginning: (key, value)."""
    from kafka import TopicPartition

    from sitrep import clients

    consumer = clients.kafka_consumer(settings, consumer_timeout_ms=idle_ms)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return [(record.key.decode(), record.value) for record in consumer]
    finally:
        consumer.close()


def produce(settings: Settings, topic: str, records: list[bytes]) -> None:
    from sitrep import clients

    producer = clients.kafka_producer(settings)
    try:
        for raw in records:
            try:
                key = json.loads(raw).get("district", "x").encode()
            except ValueError:
                key = b"64.72"
            producer.send(topic, key=key, value=raw)
        producer.flush()
    finally:
        producer.close()


@dataclass
class Toolkit:
    """What an integration test needs: isolated topics, workers, produce and read."""

    isolated: Isolated
    tmp_path: Path
    started: list[WorkerProcess] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.isolated.settings_for()

    def topic(self, name: str) -> str:
        return self.isolated.topics()[name]

    def worker(self, name: str, status_topic: str | None = None) -> WorkerProcess:
        worker = WorkerProcess(
            self.isolated, name, status_topic or self.topic("status"), self.tmp_path / name
        )
        worker.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started.append(worker)
        return worker

    def status_topic(self, name: str) -> str:
        """An extra compacted status topic (for a second run to compare with)."""
        from sitrep import clients
        from sitrep.topics import TopicSpec, ensure_topics

        topic = f"{self.isolated.prefix}.{name}"
        admin = clients.kafka_admin(self.settings)
        try:
            ensure_topics(
                admin,
                [
                    TopicSpec(
                        topic, self.settings.kafka.partitions, 1, {"cleanup.policy": "compact"}
                    )
                ],
            )
        finally:
            admin.close()
        return topic

    def produce(self, records: list[bytes]) -> None:
        produce(self.settings, self.topic("reports"), records)

    def read(self, topic: str, idle_ms: int = 2000) -> list[tuple[str, bytes]]:
        return read_topic(self.settings, topic, idle_ms)

    def statuses(self, topic: str | None = None) -> list[AreaStatus]:
        return [
            AreaStatus.model_validate_json(value)
            for _, value in self.read(topic or self.topic("status"))
        ]


@pytest.fixture
def it(isolated: Isolated, tmp_path: Path) -> Iterator[Toolkit]:
    toolkit = Toolkit(isolated, tmp_path)
    yield toolkit
    for worker in toolkit.started:
        worker.stop()


T = TypeVar("T")


def run_in_own_loop(scenario: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run`` in a thread of its own: an earlier test of the session may have left an
    event loop running in this one."""
    results: list[T] = []
    errors: list[BaseException] = []

    def main() -> None:
        try:
            results.append(asyncio.run(scenario()))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    # A daemon: a scenario that hangs fails its test without holding the session open.
    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    thread.join(60)
    if errors:
        raise errors[0]
    assert results, "the scenario did not finish within 60 s"
    return results[0]
