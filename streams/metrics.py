"""Worker metrics (Prometheus text on /metrics, JSON on /healthz), in their own registry."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["RateMeter", "WorkerMetrics"]


@dataclass
class RateMeter:
    """Events per second over a sliding period of wall time."""

    period_s: float = 10.0
    _samples: deque[tuple[float, int]] = field(default_factory=deque)
    _total: int = 0

    def add(self, count: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._total += count
        self._samples.append((now, self._total))
        while self._samples and now - self._samples[0][0] > self.period_s:
            self._samples.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self._samples and now - self._samples[0][0] > self.period_s:
            self._samples.popleft()
        if not self._samples:
            return 0.0
        first_time, first_total = self._samples[0]
        span = max(now - first_time, 1e-3)
        return (self._total - first_total) / span if len(self._samples) > 1 else 0.0


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.records = Counter(
            "sitrep_worker_records",
            "Records taken from the reports topic, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.skipped_read = Counter(
            "sitrep_worker_skipped_records_read",
            "Records the consumer skipped, read straight from the reports topic",
            registry=self.registry,
        )
        self.statuses = Counter(
            "sitrep_worker_statuses_sent",
            "Status records sent, by area level",
            ["area_level"],
            registry=self.registry,
        )
        self.level_changes = Counter(
            "sitrep_worker_level_changes", "Shown level changes sent", registry=self.registry
        )
        self.lag = Gauge(
            "sitrep_worker_consumer_lag",
            "Records in the reports topic not yet processed, by partition",
            ["partition"],
            registry=self.registry,
        )
        self.rate = Gauge(
            "sitrep_worker_processing_rate",
            "Records processed per second (10 s average)",
            registry=self.registry,
        )
        self.batch_seconds = Gauge(
            "sitrep_worker_last_batch_seconds",
            "Processing time of the last batch",
            registry=self.registry,
        )
        self.meter = RateMeter()
        self.processed = 0

    def count(self, outcome: str, amount: int) -> None:
        if amount:
            self.records.labels(outcome=outcome).inc(amount)

    def exposition(self) -> bytes:
        self.rate.set(self.meter.rate())
        return generate_latest(self.registry)
