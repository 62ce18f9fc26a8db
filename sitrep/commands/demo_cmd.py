"""``sitrep demo``: the pipeline as far as it exists, on the running stack."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from sitrep import clients

from .common import Context, fail, pass_context

WITA = ZoneInfo("Asia/Makassar")


@click.command()
@click.option("--count", default=20, show_default=True, help="Example reports to send.")
@pass_context
def demo(ctx: Context, count: int) -> None:
    """Validate example field reports, write them to Kafka and read them back.

    Needs the stack (`sitrep stack up`) and the topics (`sitrep topics ensure`).
    """
    from kafka import TopicPartition
    from kafka.errors import KafkaError

    from producers.samples import sample_reports
    from schemas.registry import default_registry
    from schemas.report import parse_report, report_to_json_bytes

    settings = ctx.settings
    registry = default_registry()
    topic = settings.kafka.topics.reports
    reports = [
        parse_report(json.dumps(raw))
        for raw in sample_reports(registry, settings.province_code, count, datetime.now(WITA))
    ]
    try:
        producer = clients.kafka_producer(settings)
        futures = [
            (r, producer.send(topic, key=r.district.encode(), value=report_to_json_bytes(r)))
            for r in reports
        ]
        producer.flush()
        sent = [(r, f.get(timeout=30)) for r, f in futures]
        producer.close()
    except KafkaError as exc:
        fail(f"Kafka at {settings.kafka.bootstrap_servers} did not take the reports: {exc}")

    consumer = clients.kafka_consumer(settings, consumer_timeout_ms=10_000)
    identical = 0
    for report, meta in sent:
        partition = TopicPartition(topic, meta.partition)
        consumer.assign([partition])
        consumer.seek(partition, meta.offset)
        record = next(iter(consumer), None)
        identical += record is not None and record.value == report_to_json_bytes(report)
    consumer.close()

    click.echo(f"{'report':<28} {'regency':<32} {'category':<20} sev  partition/offset")
    for report, meta in sent:
        area = registry.require(report.district)
        click.echo(
            f"{report.report_id:<28} {area.name:<32} {report.category.value:<20} "
            f"{report.severity:>3}  {meta.partition}/{meta.offset}"
        )
    click.echo(
        f"{len(sent)} reports validated and acknowledged by Kafka on {topic}; "
        f"{identical} read back byte-identical."
    )
    from elasticsearch import ApiError, TransportError

    try:
        es = clients.elasticsearch(settings)
        info, health = es.info(), es.cluster.health()
    except (ApiError, TransportError) as exc:
        fail(f"Elasticsearch at {settings.elasticsearch.url} did not answer: {exc}")
    click.echo(
        f"Elasticsearch {info['version']['number']} at {settings.elasticsearch.url}: "
        f"cluster {health['status']}."
    )
    if identical != len(sent):
        fail("some reports did not come back identical from Kafka")
