"""Prometheus metrics of one indexer (own registry, so several can run in one process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class IndexerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.documents = Counter(
            "sitrep_indexer_documents",
            "Bulk items acknowledged by Elasticsearch, by topic and outcome "
            "(indexed; stale = an older version was ignored; rejected = dead-lettered)",
            ["topic", "outcome"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "sitrep_indexer_batch_seconds",
            "Time from handing a batch to Elasticsearch until every item is acknowledged "
            "(including retries)",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "sitrep_indexer_batch_records",
            "Kafka records per batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=self.registry,
        )
        self.retries = Counter(
            "sitrep_indexer_retries",
            "Bulk attempts that had to be retried, by reason (429, 5xx, connection, blocked)",
            ["reason"],
            registry=self.registry,
        )
        self.deadlettered = Counter(
            "sitrep_indexer_deadlettered",
            "Records sent to the dead-letter topic, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "sitrep_indexer_consumer_lag",
            "Records on the topic not yet committed by the indexer",
            ["topic"],
            registry=self.registry,
        )
        self.loop_heartbeat = Gauge(
            "sitrep_indexer_loop_heartbeat_seconds",
            "Unix time of the consume loop's last turn; an old value means the loop is stuck",
            registry=self.registry,
        )
        self.paused = Gauge(
            "sitrep_indexer_paused",
            "1 while the consumer is paused waiting for Elasticsearch",
            registry=self.registry,
        )
