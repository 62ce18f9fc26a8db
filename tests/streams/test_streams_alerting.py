"""The Faust edge of the alert rules: what publishing an alert sends and logs."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from schemas.alert import Alert, AlertChange, AlertState
from schemas.registry import default_registry
from streams.alerting import AlertingRuntime, AlertMetrics
from streams.rules.engine import RuleEngine
from streams.rules.model import load_rules, load_sites
from tests.sinks.alert_records import alert


class _Topic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append((key, value))


def _runtime(topic: _Topic) -> AlertingRuntime:
    registry = default_registry()
    rules = load_rules(None, registry, "64")
    return AlertingRuntime(
        engine=RuleEngine(rules, registry, load_sites(None), ZoneInfo("Asia/Makassar")),
        tables={},
        alerts_topic=topic,
        reports_topic_name="sitrep.reports",
        metrics=AlertMetrics(CollectorRegistry()),
        expected={},
    )


def _with_change(record: Alert, change: AlertChange) -> Alert:
    return record.model_copy(update={"change": change})


def test_every_record_is_sent_but_evidence_updates_stay_out_of_the_info_log() -> None:
    topic = _Topic()
    fired = _with_change(alert(AlertState.FIRING), AlertChange.FIRED)
    updated = _with_change(alert(AlertState.FIRING), AlertChange.UPDATE)
    resolved = _with_change(alert(AlertState.RESOLVED), AlertChange.RESOLVED)
    publish = _runtime(topic).publish([fired, updated, resolved])
    with capture_logs() as logs, ThreadPoolExecutor(1) as thread:
        # A loop of its own in a thread of its own: earlier tests of the suite may leave an
        # event loop marked as running in the main thread.
        thread.submit(asyncio.run, publish).result(timeout=30)
    assert [key for key, _ in topic.sent] == [fired.alert_id.encode()] * 3
    levels = [(line["change"], line["log_level"]) for line in logs if line["event"] == "alert"]
    assert levels == [("fired", "info"), ("update", "debug"), ("resolved", "info")]
