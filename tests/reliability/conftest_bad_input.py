"""The bad-input corpus (``corpus/cases.yaml``): loading it, building each input, and the
fixtures the ``test_bad_input_*`` modules share (re-exported by ``conftest.py``).

A case's expected outcome is resolved per entry point (``intake``, ``produce``, ``worker``)
from its ``expect`` block and the entry point's own overrides.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from sitrep.settings import Settings
from tests.uvicorn_server import serving

CORPUS = Path(__file__).parent / "corpus"
EntryPoint = Literal["intake", "produce", "worker"]
ENTRY_POINTS: tuple[EntryPoint, ...] = ("intake", "produce", "worker")


# --- the corpus --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one entry point must do with a case."""

    reason: str | None = None  # dead-letter reason; None: accepted
    paths: tuple[str, ...] = ()  # error paths the rejection names (at least these)
    http: int | None = None  # intake status
    error: str | None = None  # intake error code, when it differs from the reason
    dead_letter: bool = True  # intake: rejected requests are dead-lettered unless False
    duplicate: bool = False  # worker: counted as a duplicate and ignored
    verbatim: bool = False  # accepted, and the text arrives exactly as sent

    @property
    def accepted(self) -> bool:
        return self.reason is None and not self.duplicate


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    spec: dict[str, Any] = field(repr=False)

    def outcome(self, entry: EntryPoint) -> Outcome | None:
        """The expected outcome at ``entry``; None when the case does not apply there."""
        merged = {**self.spec.get("expect", {}), **self.spec.get(entry, {})}
        if "skip" in merged:
            return None
        merged["paths"] = tuple(merged.get("paths", ()))
        return Outcome(**merged)

    @property
    def same_id_as_previous(self) -> bool:
        return bool(self.spec.get("report", {}).get("same_id_as_previous"))

    def build(self, report_id: str, previous_id: str | None = None) -> bytes | None:
        """The input's bytes (None: a Kafka record without a value)."""
        spec = self.spec
        if "raw" in spec:
            return str(spec["raw"]).encode("utf-8")
        if "raw_file" in spec:
            return (CORPUS / "raw" / spec["raw_file"]).read_bytes()
        if spec.get("raw_null"):
            return None
        if "generate" in spec:
            return _generate(spec["generate"], report_id)
        changes = spec.get("report", {})
        if changes.get("same_id_as_previous"):
            assert previous_id is not None, f"{self.name} needs a report before it"
            report_id = previous_id
        document = valid_report(report_id)
        for path in changes.get("unset", ()):
            _unset(document, path)
        for path, value in changes.get("set", {}).items():
            _set(document, path, value)
        spliced: dict[str, str] = {}
        for path, text in changes.get("set_json", {}).items():
            marker = f"__json_{len(spliced)}_{uuid.uuid4().hex}__"
            spliced[json.dumps(marker)] = str(text)
            _set(document, path, marker)
        encoded = json.dumps(document, ensure_ascii=False)
        for marker, text in spliced.items():
            encoded = encoded.replace(marker, text)
        return (changes.get("prefix", "") + encoded).encode("utf-8")


@cache
def load_corpus() -> tuple[Case, ...]:
    entries = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
    cases = tuple(Case(entry["name"], entry["what"], entry) for entry in entries)
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


def cases_for(entry: EntryPoint) -> list[tuple[Case, Outcome]]:
    found = []
    for case in load_corpus():
        outcome = case.outcome(entry)
        if outcome is not None:
            found.append((case, outcome))
    return found


def valid_report(report_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """A complete, valid wire-format report from Balikpapan, occurred a few minutes ago."""
    now = datetime.now(UTC).replace(microsecond=0)
    document: dict[str, Any] = {
        "report_id": report_id or f"ok-{uuid.uuid4().hex[:16]}",
        "occurred_at": (now - timedelta(minutes=3)).isoformat(),
        "received_at": now.isoformat(),
        "district": "64.71",
        "subdistrict": "64.71.01",
        "kind": "incident",
        "category": "crowd",
        "severity": 2,
        "reporter": {"unit": "Polsek Balikpapan Timur", "role": "polsek"},
        "source": "app",
        "phase": "campaign",
        "text": "Massa berkumpul di depan TPS 012, situasi terkendali.",
        "schema_version": 1,
    }
    document.update(changes)
    return document


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = document
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def _unset(document: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    target = document
    for part in parents:
        target = target[part]
    target.pop(last, None)


def _generate(spec: dict[str, Any], report_id: str) -> bytes:
    kind = spec["kind"]
    if kind == "text":
        if "chars" in spec:
            text = str(spec["char"]) * int(spec["chars"])
        else:
            phrase = "Massa berkumpul di depan TPS 012, situasi terkendali. "
            text = (phrase * (int(spec["bytes"]) // len(phrase) + 1))[: int(spec["bytes"])]
        return json.dumps(valid_report(report_id, text=text), ensure_ascii=False).encode()
    if kind == "many_fields":
        document = valid_report(report_id)
        document.update({f"x-{i:05d}": i for i in range(int(spec["count"]))})
        return json.dumps(document).encode()
    if kind == "nested":
        depth = int(spec["depth"])
        nested = "[" * depth + "]" * depth
        if spec["where"] == "top":
            return nested.encode()
        encoded = json.dumps(valid_report(report_id, text="__nested__"))
        return encoded.replace('"__nested__"', nested).encode()
    raise ValueError(f"unknown generator {kind!r}")


def case_report_id(case: Case, run: str) -> str:
    return f"bad-{case.name}-{run}"


def dead_letter_raw(record: dict[str, Any]) -> bytes:
    return base64.b64decode(record["raw_base64"])


def error_paths(record: dict[str, Any]) -> set[str]:
    return {error["path"] for error in record.get("errors", ())}


# --- fixtures: topics of their own, in the shared local stack ---------------------------------


@dataclass(frozen=True)
class BadInputStack:
    """Settings (and environment for ``sitrep`` subprocesses) with topics of their own."""

    settings: Settings
    prefix: str

    @property
    def reports(self) -> str:
        return self.settings.kafka.topics.reports

    @property
    def deadletter(self) -> str:
        return self.settings.kafka.topics.deadletter

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "SITREP_HOME": str(self.settings.home),
            "SITREP_KAFKA__BOOTSTRAP_SERVERS": self.settings.kafka.bootstrap_servers,
            "SITREP_PROVINCE_CODE": "64",
            "SITREP_LOG__FORMAT": "json",
        }
        for role, name in self.settings.kafka.topics:
            env[f"SITREP_KAFKA__TOPICS__{role.upper()}"] = name
        return env


@pytest.fixture(scope="module")
def bad_input_stack(local_stack: Settings) -> Iterator[BadInputStack]:
    """The shared stack with this module's own topics (``badin<id>.*``), deleted afterwards."""
    from sitrep import clients
    from sitrep.settings import TopicNames
    from sitrep.topics import desired_topics, ensure_topics

    prefix = f"badin{uuid.uuid4().hex[:8]}"
    topics = TopicNames(**{role: f"{prefix}.{role}" for role, _ in local_stack.kafka.topics})
    settings = local_stack.model_copy(
        update={"kafka": local_stack.kafka.model_copy(update={"topics": topics})}
    )
    admin = clients.kafka_admin(settings)
    try:
        ensure_topics(admin, desired_topics(settings.kafka))
    finally:
        admin.close()
    yield BadInputStack(settings, prefix)
    # A client of its own: one kept from the setup may have lost its idle connection during
    # the module's tests, and kafka-python then refuses the request (NodeNotReadyError).
    admin = clients.kafka_admin(settings)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(prefix)]
        if mine:
            admin.delete_topics(mine, timeout_ms=30_000)
            deadline = time.monotonic() + 10
            while set(mine) & set(admin.list_topics()) and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        admin.close()


def read_all(settings: Settings, topic: str) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """Every record of ``topic`` up to its current end: (partition, offset, key, value)."""
    from kafka import TopicPartition

    from sitrep import clients

    consumer = clients.kafka_consumer(settings, consumer_timeout_ms=2000)
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        found: list[tuple[int, int, bytes | None, bytes | None]] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for records in consumer.poll(timeout_ms=500).values():
                found.extend((r.partition, r.offset, r.key, r.value) for r in records)
        return found
    finally:
        consumer.close()


def read_json(settings: Settings, topic: str) -> list[dict[str, Any]]:
    return [json.loads(value) for _, _, _, value in read_all(settings, topic) if value]


# --- fixtures: the real HTTP intake on the real Kafka ------------------------------------------


@dataclass
class IntakeServer:
    """A running intake (uvicorn in a thread) with a token for Balikpapan (64.71) only."""

    base_url: str
    token: str
    stack: BadInputStack

    def client(self) -> Any:
        import httpx

        return httpx.Client(base_url=self.base_url, timeout=60)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def bad_input_intake(
    bad_input_stack: BadInputStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IntakeServer]:
    """The intake as `sitrep intake serve` builds it (validation in a worker process, default
    body limit of 5 MiB), on this module's topics; no rate limit (the corpus is sent fast)."""
    from producers.intake.run import intake_app
    from producers.settings import IntakeSettings
    from producers.tokens import add_grant, make_grant, new_token
    from schemas.registry import default_registry
    from schemas.report import ReporterRole

    folder = tmp_path_factory.mktemp("bad-input-intake")
    token = new_token()
    grant = make_grant(
        token,
        unit="Polres Balikpapan",
        role=ReporterRole.POLRES,
        regencies=("64.71",),
        registry=default_registry(),
        created_at=datetime.now(UTC),
    )
    add_grant(folder / "tokens.yaml", grant)
    changes: dict[str, Any] = {
        "tokens_file": folder / "tokens.yaml",
        "dedup_file": folder / "accepted.sqlite",
        "max_batch": 50,
    }
    if "rate_limit_per_s" in IntakeSettings.model_fields:
        changes["rate_limit_per_s"] = 0
    base = bad_input_stack.settings
    settings = base.model_copy(update={"intake": base.intake.model_copy(update=changes)})
    with intake_app(settings) as app, serving(app) as url:
        yield IntakeServer(url, token, bad_input_stack)
