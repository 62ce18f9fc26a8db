"""The local stack with authentication: a second Kafka with SASL/PLAIN (`sitrep stack up` with
SITREP_STACK__KAFKA_SASL=true) in a home of its own on free ports, and the real pipeline
against it: the file producer, the Faust worker and the indexer authenticate, reports become
searchable in the session's Elasticsearch and statuses appear on the status topic. A wrong
password is refused with a clear error, a plaintext client gets nowhere, and the password
shows up in no log.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka.errors import KafkaError
from pydantic import SecretStr

from schemas.status import AreaStatus
from sinks.es.names import IndexNames
from sitrep import clients
from sitrep.ports import free_ports
from sitrep.settings import Settings, TopicNames
from sitrep.stack.kafka import KafkaService
from sitrep.topics import desired_topics, ensure_topics
from tests.processes import terminate
from tests.producers.conftest import report_document
from tests.sinks.conftest import drop_indices

pytestmark = pytest.mark.integration

SITREP = str(Path(sys.executable).with_name("sitrep"))
USER = "sitrep-it"


@dataclass
class SaslKafka:
    """The second Kafka: settings (in-process clients) and environment (`sitrep` processes)."""

    settings: Settings
    env: dict[str, str]
    password: str
    stack_up: subprocess.CompletedProcess[str]

    def run(self, *args: str, timeout: float = 120, **env: str) -> Any:
        return subprocess.run(
            [SITREP, *args],
            env={**self.env, **env},
            cwd=self.settings.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def sasl_kafka(local_stack: Settings, tmp_path: Path) -> Iterator[SaslKafka]:
    """Kafka with SASL/PLAIN on its client listener, started with `sitrep stack up --only kafka`
    and stopped by pid file afterwards (the session's Elasticsearch is used as it is)."""
    tag = f"sasl{uuid.uuid4().hex[:8]}"
    home = tmp_path / "home"
    home.mkdir()
    port, controller_port = free_ports(2)
    password = f"sandi-kafka-{secrets.token_urlsafe(18)}"
    topics = TopicNames(**{name: f"{tag}.{name}" for name in TopicNames.model_fields})
    jars = KafkaService(local_stack).layout.jars  # resolved by the session's stack already
    settings = local_stack.model_copy(
        update={
            "home": home,
            "stack": local_stack.stack.model_copy(
                update={
                    "kafka_port": port,
                    "kafka_controller_port": controller_port,
                    "kafka_heap": "256m",
                    "kafka_sasl": True,
                    "jars_dir": jars,
                }
            ),
            "kafka": local_stack.kafka.model_copy(
                update={
                    "bootstrap_servers": f"127.0.0.1:{port}",
                    "security_protocol": "SASL_PLAINTEXT",
                    "sasl_mechanism": "PLAIN",
                    "sasl_username": USER,
                    "sasl_password": SecretStr(password),
                    "partitions": 2,
                    "topics": topics,
                }
            ),
            "indexer": local_stack.indexer.model_copy(
                update={"index_prefix": tag, "group_id": f"{tag}-indexer"}
            ),
        }
    )
    env = {
        **os.environ,
        "SITREP_HOME": str(home),
        "SITREP_LOG__FORMAT": "json",
        "SITREP_STACK__JARS_DIR": str(jars),
        "SITREP_STACK__KAFKA_PORT": str(port),
        "SITREP_STACK__KAFKA_CONTROLLER_PORT": str(controller_port),
        "SITREP_STACK__KAFKA_HEAP": "256m",
        "SITREP_STACK__KAFKA_SASL": "true",
        "SITREP_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        "SITREP_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SITREP_KAFKA__SASL_MECHANISM": "PLAIN",
        "SITREP_KAFKA__SASL_USERNAME": USER,
        "SITREP_KAFKA__SASL_PASSWORD": password,
        "SITREP_KAFKA__PARTITIONS": "2",
        **{f"SITREP_KAFKA__TOPICS__{name.upper()}": topic for name, topic in topics},
        "SITREP_ELASTICSEARCH__URL": settings.elasticsearch.url,
        "SITREP_INDEXER__INDEX_PREFIX": tag,
        "SITREP_INDEXER__GROUP_ID": f"{tag}-indexer",
    }
    try:
        stack_up = subprocess.run(
            [SITREP, "stack", "up", "--only", "kafka"],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert stack_up.returncode == 0, stack_up.stdout + stack_up.stderr
        yield SaslKafka(settings, env, password, stack_up)
    finally:
        KafkaService(settings).stop()
        es = clients.elasticsearch(local_stack)
        try:
            drop_indices(es, tag)
        finally:
            es.close()


class Role:
    """A `sitrep` role as its own process, output in a log file; SIGTERM to stop."""

    def __init__(self, kafka: SaslKafka, args: list[str], log: Path, **env: str) -> None:
        self.args, self.log = args, log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [SITREP, *args],
                env={**kafka.env, **env},
                cwd=kafka.settings.home,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        assert self.process.poll() is None, f"{self.args} exited:\n{self.text()[-3000:]}"
        return True

    def stop(self) -> None:
        terminate(self.process)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def worker_ready(port: int) -> bool:
    try:
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return False
    return bool(health.get("status") == "ok")


def statuses(settings: Settings) -> list[AreaStatus]:
    """Every record of the status topic so far, read with the SASL settings."""
    from kafka import TopicPartition

    consumer = clients.kafka_consumer(settings, consumer_timeout_ms=1000)
    try:
        topic = settings.kafka.topics.status
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return [AreaStatus.model_validate_json(record.value) for record in consumer]
    finally:
        consumer.close()


def test_the_pipeline_runs_against_kafka_with_sasl(sasl_kafka: SaslKafka, tmp_path: Path) -> None:
    kafka, settings = sasl_kafka, sasl_kafka.settings
    config = KafkaService(settings).config_file
    assert "SASL_PLAINTEXT://127.0.0.1:" in config.read_text()
    assert config.stat().st_mode & 0o077 == 0  # the password is in it: owner only

    admin = clients.kafka_admin(settings)  # authenticates, or fails to bootstrap
    try:
        ensure_topics(admin, desired_topics(settings.kafka))
    finally:
        admin.close()

    reports = [
        report_document(district="64.71", subdistrict="64.71.01"),
        report_document(district="64.71", subdistrict="64.71.02", category="crowd"),
        report_document(district="64.72", subdistrict="64.72.09", severity=4),
        report_document(district="64.72", subdistrict="64.72.09", category="hoax"),
        report_document(district="64.02", subdistrict=None),
    ]
    for document in reports:
        if document["subdistrict"] is None:
            del document["subdistrict"]
    lines = tmp_path / "reports.jsonl"
    lines.write_text("".join(json.dumps(document) + "\n" for document in reports))
    produced = kafka.run("produce", str(lines), "--json", "--workers", "0")
    assert produced.returncode == 0, produced.stdout + produced.stderr
    assert json.loads(produced.stdout)["accepted"] == len(reports)

    worker_port, metrics_port = free_ports(2)
    names = IndexNames(settings.indexer.index_prefix)
    with contextlib.ExitStack() as running:
        worker = Role(
            kafka,
            ["worker"],
            tmp_path / "worker.log",
            SITREP_WORKER__APP_ID=f"{settings.indexer.index_prefix}-worker",
            SITREP_WORKER__WEB_PORT=str(worker_port),
            SITREP_WORKER__DATA_DIR=str(tmp_path / "worker"),
            SITREP_WORKER__EMIT_INTERVAL_MS="200",
            SITREP_WORKER__SESSION_TIMEOUT_S="6",
        )
        running.callback(worker.stop)
        indexer = Role(
            kafka,
            ["index"],
            tmp_path / "indexer.log",
            SITREP_INDEXER__METRICS_PORT=str(metrics_port),
        )
        running.callback(indexer.stop)
        es = clients.elasticsearch(settings)
        running.callback(es.close)
        wait_for(lambda: worker.alive() and worker_ready(worker_port), 90, "the worker")

        def searchable() -> bool:
            indexer.alive()
            es.indices.refresh(index=names.reports, ignore_unavailable=True)
            found = es.search(
                index=names.reports,
                query={"ids": {"values": [d["report_id"] for d in reports]}},
                size=len(reports),
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            return len(found["hits"]["hits"]) == len(reports)

        wait_for(searchable, 60, "every report searchable in Elasticsearch")

        def reported(records: list[AreaStatus]) -> set[str]:
            return {s.area_code for s in records if s.last_report_at is not None}

        wanted = {"64.71", "64.72", "64.02", "64.71.01", "64.72.09"}
        wait_for(lambda: wanted <= reported(statuses(settings)), 60, "statuses of the reports")
        # ...and the indexer read them back from the status topic into the status index.
        wait_for(
            lambda: bool(es.exists(index=names.status, id="64.72")),
            30,
            "the status of 64.72 indexed",
        )
    assert worker.process.returncode in (0, -signal.SIGTERM), worker.text()[-3000:]
    assert indexer.process.returncode in (0, -signal.SIGTERM), indexer.text()[-3000:]

    # A wrong password: refused, said so, within the CLI's bootstrap timeout (no hang).
    wrong = f"salah-{secrets.token_urlsafe(12)}"
    began = time.monotonic()
    refused = kafka.run("topics", "ensure", SITREP_KAFKA__SASL_PASSWORD=wrong)
    assert time.monotonic() - began < 30
    assert refused.returncode == 1
    assert f"Kafka refused the SASL login of user '{USER}'" in refused.stderr, refused.stderr
    assert "Invalid username or password" in refused.stderr
    # The readiness check of `stack up` authenticates too, and says why it cannot.
    probe = kafka.run("stack", "up", "--only", "kafka", SITREP_KAFKA__SASL_PASSWORD=wrong)
    assert probe.returncode == 1 and "refused the SASL login" in probe.stderr, probe.stderr
    # Switching authentication off needs a restart; `stack up` says so instead of waiting.
    plain_env = {
        "SITREP_STACK__KAFKA_SASL": "false",
        "SITREP_KAFKA__SECURITY_PROTOCOL": "PLAINTEXT",
    }
    switched = kafka.run("stack", "up", "--only", "kafka", **plain_env)
    assert switched.returncode == 1
    assert "Kafka is running with SASL" in switched.stderr, switched.stderr

    # A plaintext client gets no connection, so it cannot produce anything.
    plain = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"security_protocol": "PLAINTEXT"})}
    )
    began = time.monotonic()
    with pytest.raises(KafkaError):
        clients.kafka_producer(plain, bootstrap_timeout_ms=5000)
    assert time.monotonic() - began < 15

    logs = {
        "stack up": kafka.stack_up.stdout + kafka.stack_up.stderr,
        "produce": produced.stdout + produced.stderr,
        "worker": worker.text(),
        "indexer": indexer.text(),
        "refused": refused.stdout + refused.stderr + probe.stdout + probe.stderr,
        **{
            f"kafka {path.name}": path.read_text(errors="replace")
            for path in KafkaService(settings).log_dir.iterdir()
        },
    }
    for secret in (kafka.password, wrong):
        forms = {secret, base64.b64encode(secret.encode()).decode()}
        assert [name for name, text in logs.items() if any(f in text for f in forms)] == []
