"""A field report written with kafka-python comes back from the reports topic byte for byte.

The topic is a fresh one with the settings of sitrep.reports (from `desired_topics`), so these
tests leave the real sitrep.reports, which a running demo reads, untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kafka import TopicPartition

from sitrep import clients
from sitrep.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def reports_topic(local_stack: Settings) -> Iterator[tuple[Settings, str]]:
    from sitrep.settings import TopicNames
    from sitrep.topics import desired_topics, ensure_topics

    name = f"it{uuid.uuid4().hex[:8]}.reports"
    kafka = local_stack.kafka.model_copy(
        update={"topics": local_stack.kafka.topics.model_copy(update={"reports": name})}
    )
    assert isinstance(kafka.topics, TopicNames)
    admin = clients.kafka_admin(local_stack)
    try:
        ensure_topics(admin, [s for s in desired_topics(kafka) if s.name == name])
        yield local_stack, name
        admin.delete_topics([name])
    finally:
        admin.close()


def _report_bytes(report_id: str) -> bytes:
    from schemas.report import parse_report, report_to_json_bytes

    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    raw = {
        "report_id": report_id,
        "occurred_at": occurred.isoformat(),
        "received_at": (occurred + timedelta(minutes=2)).isoformat(),
        "district": "64.71",
        "subdistrict": "64.71.01",
        "kind": "incident",
        "category": "money_politics",
        "severity": 3,
        "reporter": {"unit": "Polsek Balikpapan Selatan", "role": "bhabinkamtibmas"},
        "source": "app",
        "phase": "campaign",
        "text": "Pembagian amplop kepada warga menjelang kampanye terbuka, tidak ada korban.",
        "schema_version": 1,
    }
    import json

    return report_to_json_bytes(parse_report(json.dumps(raw)))


def test_report_produced_is_consumed_back_byte_identical(
    reports_topic: tuple[Settings, str],
) -> None:
    local_stack, topic = reports_topic
    value = _report_bytes(f"it-{uuid.uuid4()}")
    producer = clients.kafka_producer(local_stack)
    try:
        sent = producer.send(topic, key=b"64.71", value=value).get(timeout=30)
        producer.flush()
    finally:
        producer.close()

    consumer = clients.kafka_consumer(local_stack, consumer_timeout_ms=10_000)
    try:
        partition = TopicPartition(topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        record = next(iter(consumer))
    finally:
        consumer.close()

    assert record.value == value
    assert record.key == b"64.71"
    assert record.offset == sent.offset


def test_reports_with_the_same_regency_share_a_partition(
    reports_topic: tuple[Settings, str],
) -> None:
    local_stack, topic = reports_topic
    producer = clients.kafka_producer(local_stack)
    try:
        futures = [
            producer.send(topic, key=b"64.72", value=_report_bytes(f"it-{uuid.uuid4()}"))
            for _ in range(5)
        ]
        partitions = {f.get(timeout=30).partition for f in futures}
    finally:
        producer.close()
    assert len(partitions) == 1
