"""A field report written with kafka-python comes back from sitrep.reports byte for byte."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kafka import TopicPartition

from sitrep import clients
from sitrep.settings import Settings

pytestmark = pytest.mark.integration


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


def test_report_produced_is_consumed_back_byte_identical(local_stack: Settings) -> None:
    topic = local_stack.kafka.topics.reports
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


def test_reports_with_the_same_regency_share_a_partition(local_stack: Settings) -> None:
    topic = local_stack.kafka.topics.reports
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
