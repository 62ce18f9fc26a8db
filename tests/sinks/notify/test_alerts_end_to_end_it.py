"""A scripted escalation through the real worker and notifier, with kill -9 of both mid-way.

Reports -> `sitrep worker` (status engine + alert rules) -> sitrep.alerts -> `sitrep notify` ->
a signed webhook, a Telegram-compatible stub and an SMTP server. Expected: one alert that
fires (warning), escalates (critical) and resolves, each change on the topic and each
(alert, state, tier) at each channel exactly once, although both processes were killed with
SIGKILL between the first and the second step.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.alert import Alert, AlertState, AlertTier, notification_key
from sitrep import clients
from sitrep.settings import Settings
from streams.alerting import TICK_EVERY_S
from tests.sinks.conftest import build_report
from tests.sinks.notify.conftest import (
    RULES,
    T0,
    HttpReceivers,
    Mailbox,
    NotifierProcess,
    Worker,
    produce,
    read_deliveries,
)

pytestmark = pytest.mark.integration


def channels_file(tmp_path: Path, http: HttpReceivers, mailbox: Mailbox) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(
        f"""
channels:
  posko-webhook:
    type: webhook
    url: {http.url("/hook/ok")}
    secret_env: T_WEBHOOK_SECRET
  telegram-pimpinan:
    type: telegram
    token_env: T_TELEGRAM_TOKEN
    base_url: {http.url("")}
    default_recipients: ["-1001"]
  email-kabag-ops:
    type: email
    host: 127.0.0.1
    port: {mailbox.port}
    starttls: false
    from_address: sitrep@uji.example
    default_recipients: ["kabagops@uji.example"]
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def worker_factory(notify_topics: Settings, tmp_path: Path) -> Iterator[Callable[[], Worker]]:
    made: list[Worker] = []
    app_id = f"{notify_topics.kafka.topics.reports.split('.')[0]}-worker"
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "uji.yaml").write_text(RULES, encoding="utf-8")

    def make() -> Worker:
        worker = Worker(notify_topics, tmp_path, rules_dir, app_id)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.stop()
    admin = clients.kafka_admin(notify_topics)
    try:
        internal = [t for t in admin.list_topics() if t.startswith(f"{app_id}-")]
        if internal:
            admin.delete_topics(internal, timeout_ms=30_000)
    finally:
        admin.close()


def alerts_on_topic(settings: Settings) -> list[Alert]:
    consumer = clients.kafka_consumer(
        settings, settings.kafka.topics.alerts, group_id=None, consumer_timeout_ms=1500
    )
    try:
        return [Alert.model_validate_json(record.value) for record in consumer]
    finally:
        consumer.close()


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def delivered(settings: Settings) -> set[str]:
    return {d["notification_key"] for d in read_deliveries(settings) if d["status"] == "delivered"}


def clash(minutes: int, **fields: Any) -> Any:
    """A clash report in Kota Balikpapan, ``minutes`` after T0 (fields override)."""
    occurred = T0 + timedelta(minutes=minutes)
    return build_report(
        _registry(), occurred_at=occurred, received_at=occurred + timedelta(seconds=30), **fields
    )


QUIET = {"kind": "check_in", "category": "other", "severity": 1, "text": "Situasi aman."}


def test_a_backlog_read_in_one_poll_alerts_as_the_live_stream_would(
    notify_topics: Settings, worker_factory: Callable[[], Worker]
) -> None:
    # What a worker finds after a crash: the clashes and, three hours later, a check-in, all
    # waiting. Judged by the check-in's time the clashes would all be too late for the rule.
    settings = notify_topics
    produce(settings, clash(0), clash(5), clash(10), clash(180, **QUIET))
    worker = worker_factory()
    worker.start()
    try:
        wait_for(
            lambda: {a.change.value for a in alerts_on_topic(settings)} >= {"fired", "escalated"},
            "the alert fired and escalated",
        )
    except AssertionError as failure:
        raise AssertionError(
            f"{failure}\nalerts: {[(a.change, a.tier) for a in alerts_on_topic(settings)]}\n"
            f"{worker.tail()}"
        ) from None
    assert "rule_report_too_late" not in worker.tail(chars=10**7)


def test_escalation_is_alerted_and_delivered_once_despite_kill_9(
    notify_topics: Settings,
    worker_factory: Callable[[], Worker],
    start_notifier: Callable[..., NotifierProcess],
    http_receivers: HttpReceivers,
    mailbox: Mailbox,
    tmp_path: Path,
) -> None:
    settings = notify_topics
    channels = channels_file(tmp_path, http_receivers, mailbox)
    worker = worker_factory()
    worker.start()
    notifier = start_notifier(settings, channels)

    produce(settings, clash(0), clash(5))
    try:
        wait_for(lambda: len(alerts_on_topic(settings)) >= 1, "the warning on sitrep.alerts")
        [fired] = {a.alert_id: a for a in alerts_on_topic(settings)}.values()
        warning_keys = {
            notification_key(fired.alert_id, AlertState.FIRING, AlertTier.WARNING, channel)
            for channel in ("posko-webhook", "telegram-pimpinan")
        }
        wait_for(lambda: warning_keys <= delivered(settings), "the warning delivered")
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{worker.tail()}\n{notifier.log_tail()}") from None

    worker.kill9()
    notifier.process.send_signal(signal.SIGKILL)
    notifier.process.wait(30)
    produce(settings, clash(10))
    worker = worker_factory()
    worker.start()
    notifier = start_notifier(settings, channels)
    # Check-ins move stream time on: three hours later the rule is seen clear, and once it
    # has been seen clear for its calm period (30 min of stream time) the alert resolves.
    produce(settings, clash(180, **QUIET))
    time.sleep(2 * TICK_EVERY_S)  # the worker's timer looks at the rule at least once
    produce(settings, clash(215, **QUIET))

    alert_id = fired.alert_id
    routes = {
        AlertTier.WARNING: ("posko-webhook", "telegram-pimpinan"),
        AlertTier.CRITICAL: ("posko-webhook", "telegram-pimpinan", "email-kabag-ops"),
    }
    expected_steps = [
        ("fired", AlertState.FIRING, AlertTier.WARNING),
        ("escalated", AlertState.FIRING, AlertTier.CRITICAL),
        ("resolved", AlertState.RESOLVED, AlertTier.CRITICAL),
    ]
    expected_keys = {
        notification_key(alert_id, state, tier, channel)
        for _, state, tier in expected_steps
        for channel in routes[tier]
    }
    try:
        wait_for(lambda: expected_keys <= delivered(settings), "every notification delivered")
        time.sleep(3)  # anything sent twice would arrive now
    except AssertionError as failure:
        raise AssertionError(
            f"{failure}\nalerts: {[(a.change, a.tier) for a in alerts_on_topic(settings)]}\n"
            f"{worker.tail()}\n{notifier.log_tail()}"
        ) from None

    on_topic = alerts_on_topic(settings)
    assert {a.alert_id for a in on_topic} == {alert_id}
    steps: list[tuple[str, AlertState, AlertTier]] = []
    for alert in on_topic:
        step = (alert.change.value, alert.state, alert.tier)
        if step not in steps:
            steps.append(step)
    assert steps == expected_steps
    # A record re-published after the crash is the same record, not a new alert.
    by_step: dict[tuple[str, AlertState, AlertTier], set[str]] = {}
    for alert in on_topic:
        by_step.setdefault((alert.change.value, alert.state, alert.tier), set()).add(
            alert.model_dump_json()
        )
    assert all(len(records) == 1 for records in by_step.values()), by_step
    # The restarted worker sent its alert's latest record again (a crash may have lost it).
    assert len(on_topic) > len(by_step)
    resolved = on_topic[-1]
    assert len(resolved.evidence_report_ids) == 3

    webhook = Counter(http_receivers.keys("/hook/ok"))
    telegram = Counter(r.body["text"] for r in http_receivers.on("/telegram"))
    mail = Counter(mailbox.keys())
    webhook_expected = {k for k in expected_keys if k.endswith("/posko-webhook")}
    mail_expected = {k for k in expected_keys if k.endswith("/email-kabag-ops")}
    assert set(webhook) == webhook_expected and set(webhook.values()) == {1}, webhook
    assert set(mail) == mail_expected and set(mail.values()) == {1}, mail
    assert len(telegram) == 3 and set(telegram.values()) == {1}, telegram
    assert {r.body["chat_id"] for r in http_receivers.on("/telegram")} == {"-1001"}
    assert "Balikpapan" in json.dumps(http_receivers.on("/hook/ok")[0].body)


def _registry() -> Any:
    from schemas.registry import default_registry

    return default_registry()
