"""The indexer against the real Kafka and Elasticsearch: counts, idempotency, ordering of
versioned records, dead letters, and an Elasticsearch outage."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import helpers
from fastapi.testclient import TestClient

from schemas.deadletter import DeadLetter
from schemas.status import AreaStatus
from sinks.es.names import IndexNames
from sitrep import clients
from sitrep.settings import Settings
from tests.monitoring import assert_monitoring_access
from tests.sinks.conftest import with_anonymous_role

pytestmark = pytest.mark.integration

REGENCIES = ("64.71", "64.72", "64.02")
CATEGORIES = ("clash", "money_politics", "hoax", "crowd")
TEXTS = {
    "clash": "Terjadi bentrokan antar pendukung calon di depan kantor KPU.",
    "money_politics": "Warga melaporkan pembagian amplop oleh tim sukses.",
    "hoax": "Beredar pesan berantai hoaks tentang penundaan pemungutan suara.",
    "crowd": "Massa berkampanye tanpa izin di lapangan kota.",
}


def scenario(make_report: Any) -> list[Any]:
    """48 reports over February and March 2024 in three regencies, with follow-ups."""
    start = datetime(2024, 2, 20, 8, 0, tzinfo=UTC)
    reports = []
    for i in range(48):
        category = CATEGORIES[i % 4]
        first = reports[i - 4] if i >= 24 and i % 6 == 0 else None
        reports.append(
            make_report(
                report_id=f"scn-{i:03d}",
                occurred_at=start + timedelta(hours=12 * i),
                district=REGENCIES[i % 3],
                category=category,
                severity=1 + i % 5,
                text=TEXTS[category],
                **(
                    {"incident_id": first.incident_id, "incident_state": "handling"}
                    if first is not None
                    else {}
                ),
            )
        )
    return reports


def count(es: Any, index: str, **query: Any) -> int:
    es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
    return int(
        es.count(index=index, ignore_unavailable=True, allow_no_indices=True, **query)["count"]
    )


def committed_everything(settings: Settings, topic: str) -> bool:
    from kafka import TopicPartition

    consumer = clients.kafka_consumer(settings, group_id=settings.indexer.group_id)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        ends = consumer.end_offsets(partitions)
        return all((consumer.committed(tp) or 0) == ends[tp] for tp in partitions)
    finally:
        consumer.close()


def test_a_scenario_is_fully_searchable_with_exact_counts(
    isolated: Settings,
    es: Any,
    make_report: Any,
    send: Any,
    as_record: Any,
    indexer: Any,
    wait: Any,
) -> None:
    from sinks.web import create_app

    reports = scenario(make_report)
    send(isolated, isolated.kafka.topics.reports, [as_record(r) for r in reports])
    names = IndexNames(isolated.indexer.index_prefix)
    with indexer(isolated):
        wait(lambda: count(es, names.reports) == len(reports), 60, "48 reports indexed")
        wait(lambda: committed_everything(isolated, isolated.kafka.topics.reports), 10, "commit")

    assert sorted(es.indices.get_alias(index=names.reports)) == [
        f"{names.reports}-2024.02",
        f"{names.reports}-2024.03",
    ]
    # Search needs the analyst role; this test is about the index, so anonymous callers have it.
    with TestClient(create_app(with_anonymous_role(isolated, "analyst"), es=es)) as web:
        everything = web.get("/v1/search", params={"size": 100}).json()
        assert everything["total"] == 48
        facets = everything["facets"]
        assert {b["key"]: b["count"] for b in facets["category"]} == Counter(
            r.category.value for r in reports
        )
        assert {b["key"]: b["count"] for b in facets["regency"]} == Counter(
            r.district for r in reports
        )
        assert {b["key"]: b["count"] for b in facets["severity"]} == Counter(
            r.severity for r in reports
        )
        assert sum(b["count"] for b in facets["occurred"]) == 48

        expected = [r for r in reports if r.district == "64.72" and r.severity >= 4]
        narrowed = web.get(
            "/v1/search", params={"regency": "Samarinda", "severity_min": 4, "size": 100}
        ).json()
        assert narrowed["total"] == len(expected)
        assert {h["report_id"] for h in narrowed["hits"]} == {r.report_id for r in expected}

        clashes = web.get("/v1/search", params={"q": "bentrok"}).json()
        assert clashes["total"] == sum(r.category.value == "clash" for r in reports)

        follow_up = next(r for r in reports if r.incident_id != r.report_id)
        detail = web.get(f"/v1/reports/{follow_up.report_id}").json()
        assert detail["incident"]["incident_id"] == follow_up.incident_id
        assert follow_up.incident_id in {r["report_id"] for r in detail["incident"]["reports"]}


def test_a_report_replayed_twice_is_one_document(
    isolated: Settings,
    es: Any,
    make_report: Any,
    send: Any,
    as_record: Any,
    indexer: Any,
    wait: Any,
) -> None:
    once, twice = make_report(report_id="replayed-1"), make_report(report_id="other-1")
    send(isolated, isolated.kafka.topics.reports, [as_record(once), as_record(twice)])
    names = IndexNames(isolated.indexer.index_prefix)
    with indexer(isolated):
        wait(lambda: count(es, names.reports) == 2, 30, "first delivery")
        # The same record again, e.g. a producer retry or a replay of the topic.
        send(isolated, isolated.kafka.topics.reports, [as_record(once), as_record(once)])
        wait(lambda: committed_everything(isolated, isolated.kafka.topics.reports), 30, "replay")
    assert count(es, names.reports) == 2
    assert count(es, names.reports, query={"term": {"report_id": "replayed-1"}}) == 1


def test_the_indexer_serves_metrics_only_with_a_monitoring_token(
    isolated: Settings, indexer: Any
) -> None:
    with indexer(isolated) as running:
        assert running.value("sitrep_indexer_loop_heartbeat_seconds") >= 0  # up, token accepted
        assert_monitoring_access(
            f"http://127.0.0.1:{running.metrics_port}", protected=["/metrics"], public=["/healthz"]
        )


def status_record(area: str, updated: datetime, level: str, score: float) -> tuple[bytes, bytes]:
    status = AreaStatus.model_validate(
        {
            "area_code": area,
            "area_level": "regency",
            "area_name": "Kota Balikpapan",
            "level": level,
            "score": score,
            "level_changed_at": updated.isoformat(),
            "change_reason": f"skor {score}",
            "updated_at": updated.isoformat(),
        }
    )
    return area.encode(), status.model_dump_json(exclude_none=True).encode()


def test_an_out_of_date_status_does_not_overwrite_a_newer_one(
    isolated: Settings, es: Any, send: Any, indexer: Any, wait: Any
) -> None:
    newer = datetime(2024, 2, 14, 10, 5, tzinfo=UTC)
    older = newer - timedelta(minutes=5)
    # Same key, same partition: the newer record (twice), then one that was delayed upstream.
    send(
        isolated,
        isolated.kafka.topics.status,
        [
            status_record("64.71", newer, "AWAS", 40.0),
            status_record("64.71", newer, "AWAS", 40.0),  # replayed
            status_record("64.71", older, "WASPADA", 8.0),  # delayed upstream, arrives last
        ],
    )
    names = IndexNames(isolated.indexer.index_prefix)
    with indexer(isolated) as metrics:
        wait(lambda: count(es, names.status_history) == 2, 30, "both states in the history")
        wait(lambda: committed_everything(isolated, isolated.kafka.topics.status), 30, "commit")
    current = es.get(index=names.status, id="64.71")
    assert current["_source"]["level"] == "AWAS"
    assert current["_source"]["score"] == 40.0
    assert current["_version"] == int(newer.timestamp() * 1000)
    stale = metrics.value(
        "sitrep_indexer_documents_total", topic=isolated.kafka.topics.status, outcome="stale"
    )
    assert stale == 2


def test_a_malformed_document_is_dead_lettered_while_the_rest_of_its_batch_is_indexed(
    isolated: Settings,
    es: Any,
    make_report: Any,
    send: Any,
    as_record: Any,
    indexer: Any,
    wait: Any,
    read_topic: Any,
) -> None:
    from sinks.es.setup import setup

    names = IndexNames(isolated.indexer.index_prefix)
    setup(es, isolated.indexer)
    # An index whose mapping no longer fits what the indexer writes (e.g. changed by hand):
    # Elasticsearch rejects the document, which is a per-document error, not an outage.
    es.indices.create(
        index=f"{names.reports}-2024.05", mappings={"properties": {"severity": {"type": "boolean"}}}
    )
    good = [make_report(report_id=f"good-{i}") for i in range(5)]
    rejected = make_report(report_id="rejected-1", occurred_at=datetime(2024, 5, 2, tzinfo=UTC))
    records = [as_record(r) for r in good[:3]] + [as_record(rejected)]
    records += [(b"64.71", b'{"report_id": "broken-json"'), (b"64.71", b'{"report_id": "x-1"}')]
    records += [as_record(r) for r in good[3:]]
    send(isolated, isolated.kafka.topics.reports, records)

    with indexer(isolated) as metrics:
        wait(lambda: committed_everything(isolated, isolated.kafka.topics.reports), 30, "commit")
    assert count(es, names.reports) == 5
    assert count(es, names.reports, query={"term": {"report_id": "rejected-1"}}) == 0

    letters = [
        DeadLetter.model_validate_json(record.value)
        for record in read_topic(isolated, isolated.kafka.topics.deadletter)
    ]
    by_reason = {letter.reason.value: letter for letter in letters}
    assert set(by_reason) == {"index_rejected", "invalid_json", "validation_failed"}
    assert len(letters) == 3
    index_rejected = by_reason["index_rejected"]
    assert index_rejected.report_id == "rejected-1"
    assert index_rejected.stage.value == "indexer"
    assert "severity" in index_rejected.errors[0].message
    assert index_rejected.origin is not None
    assert index_rejected.origin.topic == isolated.kafka.topics.reports
    assert json.loads(index_rejected.raw_text or "{}")["report_id"] == "rejected-1"
    assert by_reason["validation_failed"].report_id == "x-1"
    assert metrics.value("sitrep_indexer_deadlettered_total", reason="index_rejected") == 1


def test_elasticsearch_down_for_60_seconds_loses_nothing_and_duplicates_nothing(
    isolated: Settings,
    es: Any,
    make_report: Any,
    send: Any,
    as_record: Any,
    indexer: Any,
    wait: Any,
    stack_services: Any,
    read_topic: Any,
) -> None:
    names = IndexNames(isolated.indexer.index_prefix)
    producer = clients.kafka_producer(isolated)
    sent: list[str] = []
    stop_sending = threading.Event()

    def keep_sending() -> None:
        number = 0
        while not stop_sending.is_set():
            report = make_report(report_id=f"flow-{number:05d}")
            key, value = as_record(report)
            producer.send(isolated.kafka.topics.reports, key=key, value=value).get(timeout=30)
            sent.append(report.report_id)
            number += 1
            time.sleep(0.1)

    sender = threading.Thread(target=keep_sending, daemon=True)
    with indexer(isolated) as metrics:
        sender.start()
        try:
            wait(lambda: count(es, names.reports) >= 10, 30, "indexing under way")
            stack_services["elasticsearch"].stop()
            sent_before_outage = len(sent)
            time.sleep(60)
            sent_during_outage = len(sent) - sent_before_outage
            stack_services["elasticsearch"].start()
            time.sleep(3)
        finally:
            # Whatever happened, stop sending: a sender left running would keep writing to
            # this test's topic after it is deleted, and slow every later test down.
            stop_sending.set()
            sender.join(30)
            producer.close()
        wait(lambda: count(es, names.reports) == len(sent), 120, "catching up")
        wait(lambda: committed_everything(isolated, isolated.kafka.topics.reports), 30, "commit")

    assert sent_during_outage > 200
    indexed_ids = [
        hit["_id"]
        for hit in helpers.scan(
            es, index=names.reports, query={"query": {"match_all": {}}}, _source=False
        )
    ]
    assert len(indexed_ids) == len(set(indexed_ids)) == len(sent)
    assert set(indexed_ids) == set(sent)
    assert metrics.value("sitrep_indexer_retries_total") > 0
    assert read_topic(isolated, isolated.kafka.topics.deadletter, timeout_ms=1000) == []


def test_rebalances_while_indexing_skip_nothing(
    isolated: Settings,
    es: Any,
    make_report: Any,
    send: Any,
    as_record: Any,
    indexer: Any,
    wait: Any,
) -> None:
    """A second indexer joins the group mid-stream and leaves again: two rebalances while
    batches are read, in flight and committed. Every report still ends up indexed."""
    names = IndexNames(isolated.indexer.index_prefix)
    total = 6000
    reports = [make_report(report_id=f"rb-{n:05d}") for n in range(total)]
    send(isolated, isolated.kafka.topics.reports, [as_record(r) for r in reports[:3000]])
    small_batches = isolated.model_copy(
        update={"indexer": isolated.indexer.model_copy(update={"bulk_max_actions": 200})}
    )
    with indexer(small_batches):
        wait(lambda: count(es, names.reports) >= 200, 60, "first batches")
        with indexer(small_batches) as second:
            send(isolated, isolated.kafka.topics.reports, [as_record(r) for r in reports[3000:]])
            # Leave only once the second member has held partitions: a member that vanishes
            # while still joining makes the coordinator wait out the whole rebalance timeout.
            wait(lambda: held_partitions(second.log_file), 90, "the second member assigned")
            wait(lambda: count(es, names.reports) >= 4000, 60, "both members indexing")
        wait(lambda: count(es, names.reports) == total, 150, "all reports after the second left")
        wait(lambda: committed_everything(isolated, isolated.kafka.topics.reports), 30, "commit")
    assert count(es, names.reports) == total


def held_partitions(log_file: Path) -> bool:
    """Whether the indexer writing ``log_file`` (JSON lines) was assigned partitions."""
    for line in log_file.read_text(errors="replace").splitlines():
        if '"partitions assigned"' in line and json.loads(line).get("partitions", 0) > 0:
            return True
    return False
