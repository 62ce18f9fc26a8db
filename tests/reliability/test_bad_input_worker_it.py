"""The bad-input corpus written straight to the reports topic by a foreign producer (plain
kafka-python, no validation), read by the real `sitrep worker` (a subprocess).

Expected: each bad record is dead-lettered with its reason (and its topic, partition and
offset), the worker keeps running, and every valid report around the bad ones is applied.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sitrep.ports import free_port
from tests.processes import terminate
from tests.reliability.conftest_bad_input import (
    BadInputStack,
    Case,
    Outcome,
    case_report_id,
    cases_for,
    dead_letter_raw,
    error_paths,
    read_json,
    valid_report,
)

pytestmark = pytest.mark.integration

CASES = cases_for("worker")
PROJECT = Path(__file__).resolve().parents[2]
KEY = b"64.71"  # every record on one partition, in the order sent


class Worker:
    """`sitrep worker` as a subprocess on the module's topics, with its own id, port, state."""

    def __init__(self, stack: BadInputStack, folder: Path) -> None:
        self.port = free_port()
        self.log_path = folder / "worker.log"
        self.env = {
            **stack.env(),
            "SITREP_WORKER__APP_ID": f"{stack.prefix}-worker",
            "SITREP_WORKER__WEB_PORT": str(self.port),
            "SITREP_WORKER__DATA_DIR": str(folder / "state"),
            "SITREP_WORKER__EMIT_INTERVAL_MS": "200",
            "SITREP_WORKER__SESSION_TIMEOUT_S": "6",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "sitrep"), "worker"],
                cwd=PROJECT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def health(self) -> dict[str, Any] | None:
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            body: dict[str, Any] = httpx.get(url, timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None
        return body

    def counters(self) -> dict[str, int]:
        health = self.health() or {}
        found = [c for c in (health.get("partitions") or {}).values() if c]
        keys = ("applied", "duplicates", "too_late", "invalid")
        return {key: sum(c[key] for c in found) for key in keys}

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.alive, f"worker exited\n{self.tail()}"
            if (self.health() or {}).get("status") == "ok":
                return
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout}s\n{self.tail()}")

    def wait_for(self, wanted: dict[str, int], timeout: float = 90) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        counters: dict[str, int] = {}
        while time.monotonic() < deadline:
            assert self.alive, f"worker exited\n{self.tail()}"
            counters = self.counters()
            if all(counters.get(k, 0) >= v for k, v in wanted.items()):
                return counters
            time.sleep(0.3)
        raise AssertionError(f"counters {counters}, wanted {wanted}\n{self.tail()}")

    def stop(self) -> None:
        if self.alive:
            assert self.process is not None
            terminate(self.process)

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class ForeignProducer:
    """Plain kafka-python: no schema, no validation, large records allowed."""

    def __init__(self, stack: BadInputStack) -> None:
        from kafka import KafkaProducer

        self.topic = stack.reports
        self.producer = KafkaProducer(
            bootstrap_servers=stack.settings.kafka.bootstrap_servers,
            acks="all",
            max_request_size=1_048_000,
            client_id="foreign-producer",
        )

    def send(self, value: bytes | None) -> tuple[int, int]:
        metadata = self.producer.send(self.topic, key=KEY, value=value).get(timeout=30)
        return metadata.partition, metadata.offset

    def close(self) -> None:
        self.producer.close()


@dataclass
class Written:
    case: Case
    outcome: Outcome
    partition: int
    offset: int
    raw: bytes | None


@dataclass
class WorkerRun:
    worker: Worker
    written: list[Written]
    valid: list[tuple[str, int]]  # (report_id, offset)
    counters: dict[str, int]
    dead_letters: list[dict[str, Any]]


@pytest.fixture(scope="module")
def run(
    bad_input_stack: BadInputStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerRun]:
    worker = Worker(bad_input_stack, tmp_path_factory.mktemp("worker"))
    worker.start()
    producer = ForeignProducer(bad_input_stack)
    try:
        worker.wait_ready()
        tag = uuid.uuid4().hex[:6]
        written: list[Written] = []
        valid: list[tuple[str, int]] = []
        for case, outcome in CASES:
            before = valid_report()
            valid.append((before["report_id"], producer.send(json.dumps(before).encode())[1]))
            raw = case.build(case_report_id(case, tag), before["report_id"])
            partition, offset = producer.send(raw)
            written.append(Written(case, outcome, partition, offset, raw))
            after = valid_report()
            valid.append((after["report_id"], producer.send(json.dumps(after).encode())[1]))
        wanted = {
            "applied": len(valid) + sum(1 for w in written if w.outcome.accepted),
            "duplicates": sum(1 for w in written if w.outcome.duplicate),
            "too_late": sum(1 for w in written if w.outcome.reason == "too_late"),
        }
        wanted["invalid"] = len(written) - sum(wanted.values()) + len(valid)
        counters = worker.wait_for(wanted)
        # Dead letters are sent soon after the batch: wait until they are all there.
        expected_dead = wanted["invalid"] + wanted["too_late"]
        deadline = time.monotonic() + 30
        while True:
            dead = read_json(bad_input_stack.settings, bad_input_stack.deadletter)
            if len(dead) >= expected_dead or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        yield WorkerRun(worker, written, valid, counters, dead)
    finally:
        producer.close()
        worker.stop()


def test_counts_match_what_was_written(run: WorkerRun) -> None:
    written = run.written
    assert run.counters == {
        "applied": len(run.valid) + sum(1 for w in written if w.outcome.accepted),
        "duplicates": sum(1 for w in written if w.outcome.duplicate),
        "too_late": sum(1 for w in written if w.outcome.reason == "too_late"),
        "invalid": sum(1 for w in written if w.outcome.reason not in (None, "too_late")),
    }


@pytest.mark.parametrize(("case", "outcome"), CASES, ids=[case.name for case, _ in CASES])
def test_each_bad_record_is_dead_lettered_with_its_reason(
    case: Case, outcome: Outcome, run: WorkerRun, bad_input_stack: BadInputStack
) -> None:
    [written] = [w for w in run.written if w.case.name == case.name]
    records = [
        r
        for r in run.dead_letters
        if r["origin"]["offset"] == written.offset and r["origin"]["partition"] == written.partition
    ]
    if outcome.reason is None:
        assert records == []
        return
    [record] = records
    assert record["stage"] == "worker"
    assert record["reason"] == outcome.reason
    assert set(outcome.paths) <= error_paths(record), record["errors"]
    assert record["origin"]["topic"] == bad_input_stack.reports
    assert record["origin"]["key"] == KEY.decode()
    raw = dead_letter_raw(record)
    sent = written.raw or b""
    assert raw == sent or (record["raw_truncated"] and sent.startswith(raw))


def test_worker_keeps_running_and_processes_what_comes_next(
    run: WorkerRun, bad_input_stack: BadInputStack
) -> None:
    assert run.worker.alive, run.worker.tail()
    producer = ForeignProducer(bad_input_stack)
    try:
        producer.send(json.dumps(valid_report()).encode())
    finally:
        producer.close()
    after = run.worker.wait_for({"applied": run.counters["applied"] + 1}, timeout=30)
    assert after["invalid"] == run.counters["invalid"]
    assert (run.worker.health() or {}).get("status") == "ok"
    log = run.worker.log_path.read_text(errors="replace")
    assert "Traceback" not in log, run.worker.tail(80)
