"""``sitrep bench index``: the indexer next to a raw ``helpers.streaming_bulk`` of the same
documents, and the delay from ``received_at`` to searchable.

Everything runs against the configured stack with its own topics (``<reports topic>.bench-<run>``
and friends) and its own index prefix (``bench<run>``), removed afterwards:

1. warm-up: a small bulk so both measurements meet a warm node;
2. ceiling: ``helpers.streaming_bulk`` of the documents the indexer would build for N reports
   (built beforehand, not timed) into fresh indices from the same templates, chunks as large as
   the indexer's batches; before it and before the indexer, the node is let to finish its
   refreshes and merges, so neither pays for the other's background work;
3. indexer: the N reports are put on the reports topic first; timed from the first batch handed
   to Elasticsearch until every document is acknowledged (the consumer-group join is not part
   of indexing throughput);
4. latency: reports sent at a steady rate with ``received_at`` = send time while the indexer
   runs; a poller asks Elasticsearch every 50 ms which of them a search finds. The default 1 s
   refresh dominates; the poll interval adds up to 50 ms.

Targets (issue 5): indexer >= 0.8 x raw; p99 received_at -> searchable < 1.5 s.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from bench.harness import Figure, Stopwatch, format_table, percentiles, write_result
from sitrep.commands.common import Context, fail, pass_context
from sitrep.settings import Settings, TopicNames

_TEXTS = (
    ("incident", "clash", 4, "Terjadi bentrokan antar pendukung calon di depan kantor KPU."),
    ("incident", "money_politics", 3, "Warga melaporkan pembagian amplop oleh tim sukses."),
    ("incident", "hoax", 2, "Beredar pesan berantai hoaks tentang penundaan pemungutan suara."),
    ("incident", "campaign_violation", 2, "Tim sukses berkampanye di luar jadwal yang diizinkan."),
    ("incident", "vandalism", 2, "Baliho calon dirusak orang tidak dikenal pada malam hari."),
    ("incident", "intimidation", 4, "Saksi TPS mendapat ancaman dari kelompok tidak dikenal."),
    ("check_in", "other", 1, "Situasi aman dan kondusif, patroli rutin di sekitar TPS."),
    ("incident", "crowd", 3, "Massa berkumpul di depan kantor Bawaslu, situasi terkendali."),
)


@click.command()
@click.option("--count", default=20_000, show_default=True, help="Reports for the throughput.")
@click.option("--rate", default=200, show_default=True, help="Reports/s in the latency phase.")
@click.option("--seconds", default=10, show_default=True, help="Length of the latency phase.")
@click.option("--keep", is_flag=True, help="Keep the benchmark's topics and indices.")
@pass_context
def command(ctx: Context, count: int, rate: int, seconds: int, keep: bool) -> Path:
    """Indexed reports/s next to raw streaming_bulk, and received_at -> searchable delay."""
    from elastic_transport import TransportError
    from elasticsearch import ApiError
    from kafka.errors import KafkaError

    run = uuid.uuid4().hex[:6]
    settings = _bench_settings(ctx.settings, run)
    try:
        figures = _run(settings, count, rate, seconds)
    except (ApiError, TransportError, KafkaError, RuntimeError) as exc:
        fail(f"benchmark stopped: {exc}")
    finally:
        if not keep:
            _clean_up(settings)
    click.echo(format_table(figures))
    for figure in figures:
        if figure.notes:
            click.echo(f"  {figure.name}: {figure.notes}")
    path = ctx.settings.home / "bench" / f"index-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    params = {
        "count": count,
        "rate": rate,
        "seconds": seconds,
        "run": run,
        "bulk_max_actions": settings.indexer.bulk_max_actions,
        "flush_interval_ms": settings.indexer.flush_interval_ms,
        "refresh_interval": settings.indexer.refresh_interval,
        "partitions": settings.kafka.partitions,
    }
    write_result(path, "index", figures, params)
    click.echo(f"result: {path}")
    return path


def _bench_settings(settings: Settings, run: str) -> Settings:
    base = settings.kafka.topics
    topics = TopicNames(
        reports=f"{base.reports}.bench-{run}",
        deadletter=f"{base.deadletter}.bench-{run}",
        status=f"{base.status}.bench-{run}",
        alerts=f"{base.alerts}.bench-{run}",
    )
    kafka = settings.kafka.model_copy(update={"topics": topics})
    indexer = settings.indexer.model_copy(
        update={
            "index_prefix": f"bench{run}",
            "group_id": f"sitrep-bench-{run}",
            "metrics_port": 0,
        }
    )
    return settings.model_copy(update={"kafka": kafka, "indexer": indexer})


def _wait_until_quiet(es: Any, timeout_s: float = 30.0) -> None:
    """Until Elasticsearch has no refresh pending and no merge running (or ``timeout_s``)."""
    es.indices.refresh(index="_all")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stats = es.nodes.stats(metric="indices", index_metric="merge")
        running = sum(node["indices"]["merges"]["current"] for node in stats["nodes"].values())
        if running == 0:
            return
        time.sleep(0.2)


def _report(registry: Any, regencies: list[Any], number: int, run: str, now: datetime) -> Any:
    from schemas.report import FieldReport

    kind, category, severity, text = _TEXTS[number % len(_TEXTS)]
    regency = regencies[number % len(regencies)]
    document = {
        "report_id": f"bench-{run}-{number:07d}",
        "occurred_at": (now - timedelta(seconds=1)).isoformat(),
        "received_at": now.isoformat(),
        "district": regency.code,
        "kind": kind,
        "category": category,
        "severity": severity,
        "reporter": {"unit": f"Polres {regency.name}", "role": "polres"},
        "source": "app",
        "phase": "voting",
        "text": f"{text} Laporan nomor {number}.",
        "schema_version": 1,
    }
    return FieldReport.model_validate(document, context={"registry": registry})


def _run(settings: Settings, count: int, rate: int, seconds: int) -> list[Figure]:
    from elasticsearch import helpers

    from schemas.registry import default_registry
    from schemas.report import report_to_json_bytes
    from sinks.documents import report_action
    from sinks.es.names import IndexNames
    from sinks.es.setup import setup
    from sitrep import clients
    from sitrep.morphology import default_stemmer
    from sitrep.topics import desired_topics, ensure_topics

    registry = default_registry()
    stemmer = default_stemmer()
    regencies = list(registry.regencies(settings.province_code))
    now = datetime.now(UTC)
    reports = [_report(registry, regencies, n, "t", now) for n in range(count)]

    es = clients.elasticsearch(settings)
    admin = clients.kafka_admin(settings)
    try:
        ensure_topics(admin, desired_topics(settings.kafka))
    finally:
        admin.close()
    setup(es, settings.indexer)

    # 1. warm-up, 2. ceiling: the same documents the indexer builds, into indices of their own.
    raw_names = IndexNames(f"{settings.indexer.index_prefix}raw")
    setup(es, settings.indexer.model_copy(update={"index_prefix": raw_names.prefix}))

    def raw_actions(prefix: str, items: list[Any]) -> Iterator[dict[str, Any]]:
        names = IndexNames(prefix)
        for report in items:
            action = report_action(report, names, registry, now, stemmer)
            yield {"_index": action.index, "_id": action.doc_id, "_source": action.source}

    setup(es, settings.indexer.model_copy(update={"index_prefix": raw_names.prefix + "warm"}))
    chunk = settings.indexer.bulk_max_actions
    for _ in helpers.streaming_bulk(
        es, raw_actions(raw_names.prefix + "warm", reports[:2000]), chunk_size=chunk
    ):
        pass
    prepared = list(raw_actions(raw_names.prefix, reports))
    _wait_until_quiet(es)
    with Stopwatch() as raw_watch:
        for ok, item in helpers.streaming_bulk(es, prepared, chunk_size=chunk):
            if not ok:
                raise RuntimeError(f"raw bulk failed: {item}")
    raw = Figure("raw helpers.streaming_bulk (ceiling)", count, raw_watch.seconds)

    # 3. the indexer on the same reports, already waiting on the topic.
    producer = clients.kafka_producer(settings, client_id="sitrep-bench-index")
    futures = [
        producer.send(
            settings.kafka.topics.reports, key=r.district.encode(), value=report_to_json_bytes(r)
        )
        for r in reports
    ]
    producer.flush()
    for future in futures:
        future.get(timeout=60)
    # The ceiling's segments are still being merged: let that finish first, or the indexer
    # would pay for the ceiling's background work.
    _wait_until_quiet(es)
    indexed, latencies, latency_seconds = _run_indexer(
        settings, es, producer, registry, regencies, count, rate, seconds
    )
    producer.close()
    es.close()
    indexer_figure = Figure(
        "indexer (kafka -> elasticsearch)",
        count,
        indexed,
        ceiling_name="raw streaming_bulk",
        ceiling_rate=raw.rate,
        notes="target ratio >= 0.8",
    )
    latency = Figure(
        "received_at -> searchable",
        len(latencies),
        latency_seconds,
        latency_ms=percentiles([x * 1000 for x in latencies], (50, 95, 99)),
        notes=f"{rate}/s for {seconds}s, refresh {settings.indexer.refresh_interval}, "
        "50 ms poll; target p99 < 1500 ms",
    )
    return [raw, indexer_figure, latency]


def _run_indexer(
    settings: Settings,
    es: Any,
    producer: Any,
    registry: Any,
    regencies: list[Any],
    count: int,
    rate: int,
    seconds: int,
) -> tuple[float, list[float], float]:
    """(seconds to index ``count``, latency samples, latency phase length)."""
    from schemas.report import report_to_json_bytes
    from sinks.es.names import IndexNames
    from sinks.indexer.app import run_indexer
    from sinks.indexer.metrics import IndexerMetrics

    metrics = IndexerMetrics()
    stop = threading.Event()
    thread = threading.Thread(
        target=run_indexer, args=(settings, stop, metrics), name="bench-indexer", daemon=True
    )
    topic = settings.kafka.topics.reports

    def acknowledged() -> float:
        value: float = metrics.documents.labels(topic=topic, outcome="indexed")._value.get()
        return value

    def batches() -> float:
        return sum(
            s.value
            for m in metrics.batch_size.collect()
            for s in m.samples
            if s.name.endswith("_count")
        )

    thread.start()
    try:
        deadline = time.monotonic() + 120
        while batches() == 0 and time.monotonic() < deadline:
            time.sleep(0.002)
        if batches() == 0:
            raise RuntimeError("the indexer read nothing within 120 s (consumer group not joined)")
        deadline = time.monotonic() + 600
        started = time.perf_counter()
        while acknowledged() < count and time.monotonic() < deadline:
            time.sleep(0.005)
        indexed_seconds = time.perf_counter() - started
        if acknowledged() < count:
            raise RuntimeError(f"only {acknowledged():.0f} of {count} indexed in 10 minutes")
        latencies, phase = _latency_phase(
            settings,
            es,
            producer,
            registry,
            regencies,
            rate,
            seconds,
            IndexNames(settings.indexer.index_prefix).reports,
            report_to_json_bytes,
        )
    finally:
        stop.set()
        thread.join(60)
    return indexed_seconds, latencies, phase


def _latency_phase(
    settings: Settings,
    es: Any,
    producer: Any,
    registry: Any,
    regencies: list[Any],
    rate: int,
    seconds: int,
    alias: str,
    to_bytes: Any,
) -> tuple[list[float], float]:
    pending: dict[str, datetime] = {}
    lock = threading.Lock()
    latencies: list[float] = []
    done_sending = threading.Event()
    run = uuid.uuid4().hex[:6]

    def poll() -> None:
        while not (done_sending.is_set() and not pending):
            with lock:
                ids = list(pending)[:1000]
            if ids:
                found = es.search(
                    index=alias,
                    query={"terms": {"report_id": ids}},
                    size=len(ids),
                    source=["report_id"],
                )
                seen_at = datetime.now(UTC)
                with lock:
                    for hit in found["hits"]["hits"]:
                        received = pending.pop(hit["_source"]["report_id"], None)
                        if received is not None:
                            latencies.append((seen_at - received).total_seconds())
            time.sleep(0.05)

    poller = threading.Thread(target=poll, name="bench-poller", daemon=True)
    poller.start()
    interval = 1 / rate
    with Stopwatch() as watch:
        next_at = time.perf_counter()
        for number in range(rate * seconds):
            now = datetime.now(UTC)
            report = _report(registry, regencies, number, run, now)
            with lock:
                pending[report.report_id] = report.received_at
            producer.send(
                settings.kafka.topics.reports, key=report.district.encode(), value=to_bytes(report)
            )
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        producer.flush()
    done_sending.set()
    poller.join(60)
    return latencies, watch.seconds


def _clean_up(settings: Settings) -> None:
    from sitrep import clients

    prefix = settings.indexer.index_prefix
    es = clients.elasticsearch(settings)
    try:
        ignoring = es.options(ignore_status=404)
        ignoring.indices.delete(index=f"{prefix}*", expand_wildcards="all")
        for name in (prefix, f"{prefix}raw", f"{prefix}rawwarm"):
            for family in ("reports", "status", "status-history", "alerts"):
                ignoring.indices.delete_index_template(name=f"{name}-{family}")
            ignoring.cluster.delete_component_template(name=f"{name}-settings")
    finally:
        es.close()
    admin = clients.kafka_admin(settings)
    try:
        admin.delete_topics(list(json.loads(settings.kafka.topics.model_dump_json()).values()))
    finally:
        admin.close()
