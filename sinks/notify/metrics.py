"""Prometheus metrics of the notifier (served with /healthz by ``sitrep.monitoring``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["NotifyMetrics"]


@dataclass
class NotifyMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.deliveries = Counter(
            "sitrep_notify_deliveries",
            "Delivery records written, by channel and status "
            "(delivered, retrying, failed, silenced, suppressed)",
            ["channel", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sitrep_notify_delivery_latency_seconds",
            "From the alert record's updated_at until the channel accepted the notification",
            ["channel"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
            registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "sitrep_notify_attempt_seconds",
            "Duration of one delivery attempt (HTTP request or SMTP session)",
            ["channel"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "sitrep_notify_queue_depth",
            "Notifications waiting for or in delivery, per channel",
            ["channel"],
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "sitrep_notify_consumer_lag",
            "Records on sitrep.alerts not yet committed by the notifier",
            registry=self.registry,
        )
        self.alerts = Counter(
            "sitrep_notify_alert_records",
            "Alert records read, by outcome (notified = at least one notification; "
            "quiet = none; invalid = failed validation)",
            ["outcome"],
            registry=self.registry,
        )
        self.silences = Gauge(
            "sitrep_notify_silences", "Silences currently known", registry=self.registry
        )
        self.done_keys = Gauge(
            "sitrep_notify_done_keys",
            "Notification keys known to be done (read back at start plus handled since)",
            registry=self.registry,
        )
        self.loop_heartbeat = Gauge(
            "sitrep_notify_loop_heartbeat_seconds",
            "Unix time of the consume loop's last turn",
            registry=self.registry,
        )
