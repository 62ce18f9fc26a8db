"""`sitrep notify` against the real local Kafka, with local receivers for every channel type."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.alert import Silence, notification_key
from sitrep.settings import Settings
from tests.monitoring import assert_monitoring_access
from tests.sinks.notify.conftest import (
    HttpReceivers,
    Mailbox,
    NotifierProcess,
    alert_record,
    make_alert,
    read_deliveries,
    show_logs,
)

pytestmark = pytest.mark.integration

WORKING = ("posko-webhook", "telegram-pimpinan", "email-kabag-ops")


def write_channels(
    tmp_path: Path, http: HttpReceivers, mailbox: Mailbox, slow_timeout_s: float = 5
) -> Path:
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
  posko-rusak:
    type: webhook
    url: {http.url("/hook/fail")}
    secret_env: T_WEBHOOK_SECRET
  posko-lambat:
    type: webhook
    url: {http.url("/hook/slow")}
    secret_env: T_WEBHOOK_SECRET
  log:
    type: log
""",
        encoding="utf-8",
    )
    return path


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def telegram_keys(http: HttpReceivers) -> list[str]:
    """Telegram messages carry no key: identify them by the Ref line (alert id) and title."""
    return [
        r.body["text"].splitlines()[0] + "|" + r.body["text"].splitlines()[-1]
        for r in http.on("/telegram")
    ]


def committed_lag(settings: Settings) -> int:
    from sitrep import clients
    from sitrep.topics import group_lag

    admin = clients.kafka_admin(settings)
    try:
        return group_lag(admin, settings.notify.group_id, settings.kafka.topics.alerts)
    finally:
        admin.close()


def test_the_notifier_serves_metrics_only_with_a_monitoring_token(
    notify_topics: Settings,
    http_receivers: HttpReceivers,
    mailbox: Mailbox,
    start_notifier: Callable[..., NotifierProcess],
    tmp_path: Path,
) -> None:
    notifier = start_notifier(notify_topics, write_channels(tmp_path, http_receivers, mailbox))
    with show_logs(notifier):
        assert_monitoring_access(
            f"http://127.0.0.1:{notifier.metrics_port}", protected=["/metrics"], public=["/healthz"]
        )
        assert notifier.metric("sitrep_notify_loop_heartbeat_seconds") >= 0


def test_delivers_each_notification_once_per_channel(
    notify_topics: Settings,
    http_receivers: HttpReceivers,
    mailbox: Mailbox,
    start_notifier: Callable[..., NotifierProcess],
    send: Callable[..., None],
    tmp_path: Path,
) -> None:
    settings = notify_topics
    topics = settings.kafka.topics
    channels = write_channels(tmp_path, http_receivers, mailbox)
    now = datetime.now(UTC)
    silence = Silence(
        silence_id="sil-1",
        rule_id="sunyi",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        created_by="operator",
        created_at=now,
    )
    send(settings, topics.silences, [(b"sil-1", silence.model_dump_json().encode())])
    notifier = start_notifier(
        settings,
        channels,
        max_attempts=3,
        retry_base_ms=200,
        retry_max_ms=400,
        attempt_timeout_s=2,
    )
    everywhere = (*WORKING, "log")
    a1 = [
        make_alert(channels=(*everywhere, "posko-rusak", "tidak-ada")),
        make_alert(channels=everywhere, change="update"),
        make_alert(channels=everywhere),  # the same state again: no second notification
        make_alert(channels=everywhere, tier="critical", change="escalated"),
        make_alert(
            channels=everywhere, tier="critical", state="acknowledged", change="acknowledged"
        ),
        make_alert(channels=everywhere, tier="critical", state="resolved", change="resolved"),
    ]
    silenced = make_alert("sunyi", "64.72", channels=everywhere)
    child1 = make_alert("provinsi", "64.71", channels=everywhere)
    parent = make_alert("provinsi", "64", channels=everywhere)
    child2 = make_alert("provinsi", "64.72", channels=everywhere)
    parent_up = make_alert(
        "provinsi", "64", channels=everywhere, tier="critical", change="escalated"
    )
    # one partition key for everything, so the order below is the order read
    ordered = [*a1, silenced, child1, parent, child2, parent_up]
    send(settings, topics.alerts, [(b"64", alert_record(a)[1]) for a in ordered])

    expected = {
        notification_key(a.alert_id, a.state, a.tier, "X")
        for a in (a1[0], a1[3], a1[4], a1[5], child1, parent, parent_up)
    }

    def keys_for(channel: str) -> set[str]:
        return {k.replace("/X", f"/{channel}") for k in expected}

    with show_logs(notifier):
        wait_for(
            lambda: (
                len(http_receivers.keys("/hook/ok")) >= len(expected)
                and len(mailbox.keys()) >= len(expected)
                and len(http_receivers.on("/telegram")) >= len(expected)
            ),
            30,
            "every working channel",
        )
        # the broken channel: 3 attempts, then failed; the others were not held up
        wait_for(
            lambda: any(
                d["status"] == "failed" and d["channel"] == "posko-rusak"
                for d in read_deliveries(settings)
            ),
            30,
            "the failed record of the broken channel",
        )
        time.sleep(2)  # anything extra would arrive now
        assert Counter(http_receivers.keys("/hook/ok")) == Counter(keys_for("posko-webhook"))
        assert Counter(mailbox.keys()) == Counter(keys_for("email-kabag-ops"))
        assert len(http_receivers.on("/telegram")) == len(expected)
        assert len(set(telegram_keys(http_receivers))) == len(expected)
        assert {r.body["chat_id"] for r in http_receivers.on("/telegram")} == {"-1001"}
        assert http_receivers.bad_signatures == 0
        assert len(http_receivers.on("/hook/fail", accepted_only=False)) == 3
        message_ids = [m["Message-ID"] for m in mailbox.messages]
        assert len(set(message_ids)) == len(message_ids)

        # the parent lists the child alerts that were active when it was sent
        bodies = {r.key: r.body for r in http_receivers.on("/hook/ok")}
        first = bodies[
            notification_key(parent.alert_id, parent.state, parent.tier, "posko-webhook")
        ]
        assert "Kota Balikpapan" in first["text"] and "Kota Samarinda" not in first["text"]
        second = bodies[
            notification_key(parent.alert_id, parent.state, parent_up.tier, "posko-webhook")
        ]
        assert "Kota Balikpapan" in second["text"] and "Kota Samarinda" in second["text"]
        assert second["title"].startswith("[KRITIS]")
        assert {c["alert_id"] for c in second["suppressed_children"]} == {
            child1.alert_id,
            child2.alert_id,
        }

        deliveries = read_deliveries(settings)
        statuses = Counter((d["channel"], d["status"]) for d in deliveries)
        assert statuses[("posko-rusak", "retrying")] == 2
        assert statuses[("posko-rusak", "failed")] == 1
        unknown = [d for d in deliveries if d["channel"] == "tidak-ada"]
        assert [(d["status"], d["error"]) for d in unknown] == [("failed", "unknown_channel")]
        for channel in (*WORKING, "log"):
            assert statuses[(channel, "delivered")] == len(expected), channel
            assert statuses[(channel, "silenced")] == 1
            assert statuses[(channel, "suppressed")] == 1
        assert {d["silence_id"] for d in deliveries if d["status"] == "silenced"} == {"sil-1"}
        assert {d["suppressed_by"] for d in deliveries if d["status"] == "suppressed"} == {
            parent.alert_id
        }
        assert (
            notifier.metric(
                "sitrep_notify_deliveries_total", channel="posko-rusak", status="failed"
            )
            == 1
        )
        assert notifier.metric(
            "sitrep_notify_deliveries_total", channel="posko-webhook", status="delivered"
        ) == len(expected)

        assert notifier.terminate() == 0
        assert committed_lag(settings) == 0


def test_kill_9_and_restart_deliver_each_key_once(
    notify_topics: Settings,
    http_receivers: HttpReceivers,
    mailbox: Mailbox,
    start_notifier: Callable[..., NotifierProcess],
    send: Callable[..., None],
    tmp_path: Path,
) -> None:
    settings = notify_topics
    topics = settings.kafka.topics
    http_receivers.slow_s = 2.5
    channels = write_channels(tmp_path, http_receivers, mailbox)
    routes = (*WORKING, "posko-lambat")
    alerts = [
        make_alert(area_code=f"64.7{i % 2 + 1}", episode=f"ep-{i}", channels=routes)
        for i in range(12)
    ]
    first, second = alerts[:8], alerts[8:]
    options: dict[str, Any] = {"attempt_timeout_s": 5, "retry_base_ms": 100, "retry_max_ms": 500}

    def keys(batch: list[Any], channel: str) -> set[str]:
        return {notification_key(a.alert_id, a.state, a.tier, channel) for a in batch}

    send(settings, topics.alerts, [alert_record(a) for a in first])
    notifier = start_notifier(settings, channels, **options)
    with show_logs(notifier):
        wait_for(
            lambda: (
                set(http_receivers.keys("/hook/ok")) == keys(first, "posko-webhook")
                and set(mailbox.keys()) == keys(first, "email-kabag-ops")
                and len(http_receivers.on("/telegram")) == len(first)
            ),
            30,
            "the fast channels to deliver the first batch",
        )
        done_fast = lambda: sum(  # noqa: E731
            d["status"] == "delivered" and d["channel"] in WORKING
            for d in read_deliveries(settings)
        )
        wait_for(lambda: done_fast() == 3 * len(first), 30, "their delivery records")
        wait_for(
            lambda: len(http_receivers.keys("/hook/slow", accepted_only=False)) >= 2,
            30,
            "the slow channel to be busy with its second notification",
        )
        time.sleep(0.3)
        assert len(http_receivers.keys("/hook/slow")) < len(first), "slow channel too fast"
        notifier.process.kill()  # SIGKILL: no drain, no commit
        notifier.process.wait()
    assert committed_lag(settings) > 0, "expected uncommitted alert records at the kill"

    restarted = start_notifier(settings, channels, **options)
    send(settings, topics.alerts, [alert_record(a) for a in second])
    with show_logs(restarted):
        wait_for(
            lambda: (
                set(http_receivers.keys("/hook/slow")) == keys(alerts, "posko-lambat")
                and set(http_receivers.keys("/hook/ok")) == keys(alerts, "posko-webhook")
                and set(mailbox.keys()) == keys(alerts, "email-kabag-ops")
                and len(http_receivers.on("/telegram")) >= len(alerts)
            ),
            60,
            "every channel to deliver both batches",
        )
        time.sleep(2)
        # exactly once per key at each receiver (accepted = answered to a waiting sender)
        assert Counter(http_receivers.keys("/hook/ok")) == Counter(keys(alerts, "posko-webhook"))
        assert Counter(http_receivers.keys("/hook/slow")) == Counter(keys(alerts, "posko-lambat"))
        assert Counter(mailbox.keys()) == Counter(keys(alerts, "email-kabag-ops"))
        assert len(http_receivers.on("/telegram")) == len(alerts)
        assert len(set(telegram_keys(http_receivers))) == len(alerts)
        # what the kill interrupted was re-sent with the same Idempotency-Key (a receiver
        # dedupes on it); at most the one request in flight on the slow channel
        sent_slow = Counter(http_receivers.keys("/hook/slow", accepted_only=False))
        assert set(sent_slow) == keys(alerts, "posko-lambat")
        assert sum(sent_slow.values()) - len(sent_slow) <= 1
        assert restarted.terminate() == 0
        assert committed_lag(settings) == 0
