"""Alert records for the web and CLI tests of alerts: a builder, and reading a topic whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas.alert import Alert, AlertRoute, AlertState, AlertTier, make_alert_id
from sitrep.settings import Settings

NOW = datetime(2024, 11, 27, 2, 0, tzinfo=UTC)


def alert(state: AlertState, area: str = "64.71.01", rule: str = "bentrok-beruntun") -> Alert:
    group = area
    fields: dict[str, Any] = {}
    if state is AlertState.RESOLVED:
        fields["resolved_at"] = NOW + timedelta(minutes=30)
    return Alert(
        alert_id=make_alert_id(rule, group, NOW.isoformat()),
        rule_id=rule,
        rule_name="Bentrok beruntun",
        rule_type="frequency",
        state=state,
        tier=AlertTier.CRITICAL,
        area_code=area,
        area_name="Balikpapan Selatan",
        group_key=group,
        first_fired_at=NOW,
        updated_at=NOW + timedelta(minutes=30 if state is AlertState.RESOLVED else 1),
        message_id="3 laporan bentrok dalam 1 jam",
        message_en="3 clash reports within 1 hour",
        evidence_report_ids=("r-1", "r-2", "r-3"),
        routes=(AlertRoute(channel="posko-webhook"),),
        **fields,
    )


def read_all(settings: Settings, topic: str) -> list[tuple[str, bytes | None]]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[tuple[str, bytes | None]] = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend((r.key.decode(), r.value) for r in batch)
        return records
    finally:
        consumer.close()
