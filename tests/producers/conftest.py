"""Fixtures of the intake-role tests: a valid report, and reading what landed on a topic."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.registry import AreaRegistry, default_registry
from sitrep.settings import Settings


@pytest.fixture(scope="module")
def local_stack(local_stack: Settings) -> Iterator[Settings]:
    """The shared stack, but with reports and dead-letter topics of this test module's own.

    In-process code gets them through these settings, `sitrep` subprocesses through the
    environment, so the real sitrep.reports (which a running demo reads) stays untouched.
    """
    from sitrep import clients
    from sitrep.settings import TopicNames
    from sitrep.topics import desired_topics, ensure_topics

    prefix = f"itprod{uuid.uuid4().hex[:8]}"
    topics = TopicNames(**{role: f"{prefix}.{role}" for role, _ in local_stack.kafka.topics})
    settings = local_stack.model_copy(
        update={"kafka": local_stack.kafka.model_copy(update={"topics": topics})}
    )
    admin = clients.kafka_admin(settings)
    try:
        ensure_topics(admin, desired_topics(settings.kafka))
    finally:
        admin.close()
    with pytest.MonkeyPatch.context() as env:
        for role, name in topics:
            env.setenv(f"SITREP_KAFKA__TOPICS__{role.upper()}", name)
        yield settings
    names = {name for _, name in topics}
    # A client of its own: one kept from the setup may have lost its idle connection during
    # the module's tests, and kafka-python then refuses the request (NodeNotReadyError).
    admin = clients.kafka_admin(settings)
    try:
        admin.delete_topics(sorted(names), timeout_ms=30_000)
        # Wait for the deletion to be visible, so a stack stopped right after keeps none of them.
        deadline = time.monotonic() + 10
        while names & set(admin.list_topics()) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        admin.close()


@pytest.fixture(scope="session")
def registry() -> AreaRegistry:
    return default_registry()


def report_document(report_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """A complete, valid wire-format report from Balikpapan, occurred a few minutes ago."""
    now = datetime.now(UTC).replace(microsecond=0)
    document: dict[str, Any] = {
        "report_id": report_id or f"t-{uuid.uuid4().hex[:16]}",
        "occurred_at": (now - timedelta(minutes=3)).isoformat(),
        "received_at": now.isoformat(),
        "district": "64.71",
        "subdistrict": "64.71.01",
        "kind": "incident",
        "category": "clash",
        "severity": 3,
        "reporter": {"unit": "Polsek Balikpapan Timur", "role": "patrol"},
        "source": "app",
        "phase": "campaign",
        "text": "Terjadi bentrokan antara pendukung paslon di Pasar Manggar.",
        "schema_version": 1,
    }
    document.update(changes)
    return document


@pytest.fixture
def make_report() -> Callable[..., dict[str, Any]]:
    return report_document


class TopicTail:
    """Reads what was written to topics after the moment it was created (end offsets then)."""

    def __init__(self, settings: Settings, *topics: str) -> None:
        from kafka import TopicPartition

        from sitrep import clients

        self._consumer = clients.kafka_consumer(settings, consumer_timeout_ms=3000)
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(self._consumer.partitions_for_topic(topic) or ())
        ]
        self._consumer.assign(partitions)
        self._start = self._consumer.end_offsets(partitions)

    def read(self, topic: str) -> list[dict[str, Any]]:
        """Every record written to ``topic`` since creation, values decoded as JSON."""
        partitions = [tp for tp in self._start if tp.topic == topic]
        end = self._consumer.end_offsets(partitions)
        values: list[dict[str, Any]] = []
        for tp in partitions:
            if end[tp] <= self._start[tp]:
                continue
            self._consumer.assign([tp])
            self._consumer.seek(tp, self._start[tp])
            # Empty polls happen while the consumer reconnects (e.g. after a broker restart):
            # keep polling until the end offset is reached, within a deadline.
            deadline = time.monotonic() + 30
            while self._consumer.position(tp) < end[tp]:
                assert time.monotonic() < deadline, f"could not read {tp} up to {end[tp]}"
                batch = self._consumer.poll(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        if record.offset < end[tp]:
                            value = json.loads(record.value)
                            value["_key"] = record.key.decode() if record.key else None
                            values.append(value)
        return values

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def topic_tail(local_stack: Settings) -> Iterator[Callable[[], TopicTail]]:
    """``topic_tail()`` -> a TopicTail over the reports and dead-letter topics, from now on."""
    tails: list[TopicTail] = []

    def make() -> TopicTail:
        tail = TopicTail(
            local_stack, local_stack.kafka.topics.reports, local_stack.kafka.topics.deadletter
        )
        tails.append(tail)
        return tail

    yield make
    for tail in tails:
        tail.close()
