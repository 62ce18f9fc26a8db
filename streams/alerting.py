"""The Faust edge of the alert rules: tables, hooks the worker's agents call, publishing.

The rules themselves are plain code (``streams.rules``); this module gives them a store over
Faust tables and sends what they return to ``sitrep.alerts`` (key = alert id, so each alert's
records stay in order). Hooks:

* reports: after the status engine applied a batch, its accepted reports go to the rules in the
  same partition context (one pass, no second consumer);
* statuses: the ``level-alerts`` agent reads ``sitrep.status`` (level rules);
* commands: the ``alert-commands`` agent applies acknowledgements;
* time: the emit timer ticks each assigned partition (flatline, auto-resolve), at most every
  ``TICK_EVERY_S`` of wall time; on a partition's first tick after an assignment the latest
  record of each of its alerts is sent again (a crash may have lost it).

Keys in the rule tables are prefixed with the source partition, so a partition's scan sees its
own entries only and every write lands in that partition's changelog.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError

from schemas.alert import Alert, AlertAck, AlertChange
from schemas.report import FieldReport
from schemas.status import AreaStatus
from streams.current import partition_of, table_read
from streams.rules.engine import RuleEngine, RuleTable
from streams.timebase import minute_of

__all__ = ["TICK_EVERY_S", "AlertMetrics", "AlertingRuntime", "PartitionRuleStore"]

log = structlog.get_logger("streams.alerting")

TICK_EVERY_S: Final = 5.0
"""Time-driven rules (flatline, auto-resolve) are evaluated this often per partition."""


class PartitionRuleStore:
    """``streams.rules.engine.RuleStore`` over Faust tables, scoped to one source partition."""

    def __init__(self, tables: dict[RuleTable, Any], partition: int) -> None:
        self._tables = tables
        self._prefix = f"{partition}|"

    def _key(self, key: str) -> bytes:
        return (self._prefix + key).encode()

    def get(self, table: RuleTable, key: str) -> bytes | None:
        return table_read(self._tables[table], self._key(key))

    def put(self, table: RuleTable, key: str, value: bytes) -> None:
        self._tables[table][self._key(key)] = value

    def delete(self, table: RuleTable, key: str) -> None:
        encoded = self._key(key)
        if encoded in self._tables[table]:
            del self._tables[table][encoded]

    def scan(self, table: RuleTable) -> Iterable[tuple[str, bytes]]:
        prefix = self._prefix.encode()
        cut = len(prefix)
        return [
            (key[cut:].decode(), value)
            for key, value in list(self._tables[table].items())
            if key.startswith(prefix)
        ]


class _TimerEvent:
    """Stands in for a stream event so the timer can write to one partition's tables."""

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _TimerMessage(topic, partition)


@dataclass(frozen=True)
class _TimerMessage:
    topic: str
    partition: int


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "sitrep_worker_alerts_published",
            "Alert records sent to sitrep.alerts, by change and tier",
            ["change", "tier"],
            registry=registry,
        )
        self.latency = Histogram(
            "sitrep_worker_alert_latency_seconds",
            "received_at of the newest evidence report -> alert record sent",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.commands = Counter(
            "sitrep_worker_alert_commands",
            "Alert commands taken, by outcome",
            ["outcome"],
            registry=registry,
        )


@dataclass
class AlertingRuntime:
    engine: RuleEngine
    tables: dict[RuleTable, Any]
    alerts_topic: Any
    reports_topic_name: str
    metrics: AlertMetrics
    expected: dict[int, list[str]]
    last_tick: dict[int, float] = field(default_factory=dict)
    republished: set[int] = field(default_factory=set)  # partitions whose alerts were re-sent
    received: dict[str, float] = field(default_factory=dict)  # report id -> received_at (s)

    def store(self, partition: int) -> PartitionRuleStore:
        return PartitionRuleStore(self.tables, partition)

    def forget(self) -> None:
        """Partitions moved: take stock again of whatever this worker holds now."""
        self.last_tick.clear()
        self.republished.clear()

    def republish_due(self, partition: int) -> list[Alert]:
        """Once per assignment: the latest record of each alert of the partition (see
        ``RuleEngine.latest_alerts``)."""
        if partition in self.republished:
            return []
        self.republished.add(partition)
        alerts = self.engine.latest_alerts(self.store(partition))
        if alerts:
            log.info("alerts republished", partition=partition, alerts=len(alerts))
        return alerts

    # --- hooks -----------------------------------------------------------------------------

    def on_reports(
        self, partition: int, accepted: Sequence[tuple[int, FieldReport]], now: datetime | None
    ) -> list[Alert]:
        """Called inside the status engine's partition context; ``now`` is the partition's
        stream time before this batch."""
        if not accepted:
            return []
        for _, report in accepted[-200:]:
            self.received[report.report_id] = report.received_at.timestamp()
        if len(self.received) > 20_000:
            self.received.clear()
        return self.engine.on_reports(
            accepted, self.store(partition), now, self.expected.get(partition, [])
        )

    def on_status_event(self, event: Any) -> list[Alert]:
        try:
            status = AreaStatus.model_validate_json(event.message.value)
        except ValidationError:
            log.warning("unreadable status record skipped", offset=event.message.offset)
            return []
        with partition_of(event):
            return self.engine.on_status(
                event.message.offset, status, self.store(event.message.partition)
            )

    def on_command_event(self, event: Any) -> list[Alert]:
        try:
            ack = AlertAck.model_validate_json(event.message.value)
        except ValidationError as exc:
            self.metrics.commands.labels(outcome="invalid").inc()
            log.warning(
                "invalid alert command skipped", offset=event.message.offset, error=str(exc)
            )
            return []
        with partition_of(event):
            alerts = self.engine.on_ack(ack, self.store(event.message.partition))
        self.metrics.commands.labels(outcome="applied" if alerts else "ignored").inc()
        return alerts

    def tick(self, partition: int, now: datetime, wall: float) -> list[Alert]:
        last = self.last_tick.get(partition)
        if last is not None and wall - last < TICK_EVERY_S:
            return []
        self.last_tick[partition] = wall
        with partition_of(_TimerEvent(self.reports_topic_name, partition)):
            return self.engine.tick_through(
                self.store(partition), minute_of(now), self.expected.get(partition, [])
            )

    # --- sending ---------------------------------------------------------------------------

    async def publish(self, alerts: Sequence[Alert]) -> None:
        wall = time.time()
        for alert in alerts:
            await self.alerts_topic.send(
                key=alert.alert_id.encode(),
                value=alert.model_dump_json(exclude_none=True).encode(),
            )
            self.metrics.published.labels(change=alert.change.value, tier=alert.tier.value).inc()
            newest = max(
                (self.received.get(rid, 0.0) for rid in alert.evidence_report_ids), default=0.0
            )
            if newest:
                self.metrics.latency.observe(max(0.0, wall - newest))
            # An update only adds evidence to an alert already logged: it comes with every
            # matching report while an alert fires, so it is kept out of the info log.
            notify = log.debug if alert.change is AlertChange.UPDATE else log.info
            notify(
                "alert",
                alert_id=alert.alert_id,
                change=alert.change.value,
                state=alert.state.value,
                tier=alert.tier.value,
                rule=alert.rule_id,
                area=alert.area_code,
                late=alert.late,
            )
