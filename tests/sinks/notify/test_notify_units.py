"""Unit tests of the notifier's pure parts: policy, rendering, signatures, config, backoff."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from schemas.alert import AlertChange, AlertRoute, Silence, notification_key
from schemas.delivery import Delivery, DeliveryStatus
from sinks.notify.channels import message_id_for, sign, verify_signature, webhook_payload
from sinks.notify.config import ConfigError, parse_channels, resolve_secrets
from sinks.notify.policy import (
    ActiveIndex,
    ChannelPolicy,
    Notification,
    Outcome,
    backoff_delay,
    new_decisions,
    plan_notifications,
)
from sinks.notify.render import format_time, render
from sinks.notify.tracker import OffsetTracker
from tests.sinks.notify.conftest import make_alert

NOW = datetime(2024, 2, 10, 9, 0, tzinfo=UTC)
WITA = ZoneInfo("Asia/Makassar")
ALL = frozenset(
    {AlertChange.FIRED, AlertChange.ESCALATED, AlertChange.ACKNOWLEDGED, AlertChange.RESOLVED}
)
CHANNELS = {
    "log": ChannelPolicy(ALL),
    "tg": ChannelPolicy(ALL - {AlertChange.ACKNOWLEDGED}, ("-1001",)),
}


def plan(alert, silences=(), index=None):  # type: ignore[no-untyped-def]
    index = index if index is not None else ActiveIndex()
    index.apply(alert)
    return plan_notifications(alert, CHANNELS, silences, index, NOW)


# --- policy ---------------------------------------------------------------------------------------


def test_one_notification_per_route_keyed_by_alert_state_tier_channel() -> None:
    alert = make_alert(channels=("log", "tg"), updated_at=NOW)
    decisions = plan(alert)
    assert [d.outcome for d in decisions] == [Outcome.SEND, Outcome.SEND]
    assert [d.notification.key for d in decisions] == [
        notification_key(alert.alert_id, alert.state, alert.tier, "log"),
        notification_key(alert.alert_id, alert.state, alert.tier, "tg"),
    ]
    assert decisions[1].notification.recipients == ("-1001",)  # channel default


def test_route_recipients_win_over_channel_defaults() -> None:
    alert = make_alert(updated_at=NOW, routes=(AlertRoute(channel="tg", recipients=("42",)),))
    assert plan(alert)[0].notification.recipients == ("42",)


def test_update_records_never_notify() -> None:
    assert plan(make_alert(channels=("log", "tg"), change="update", updated_at=NOW)) == []


def test_notify_on_filters_per_channel() -> None:
    alert = make_alert(
        channels=("log", "tg"), state="acknowledged", change="acknowledged", updated_at=NOW
    )
    assert [d.notification.channel for d in plan(alert)] == ["log"]


def test_unknown_channel_is_a_decision_not_an_error() -> None:
    decisions = plan(make_alert(channels=("nope",), updated_at=NOW))
    assert [d.outcome for d in decisions] == [Outcome.UNKNOWN_CHANNEL]


def silence(**fields: object) -> Silence:
    base: dict[str, object] = {
        "silence_id": "s1",
        "starts_at": NOW - timedelta(hours=1),
        "ends_at": NOW + timedelta(hours=1),
        "created_by": "op",
        "created_at": NOW,
    }
    return Silence(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "muted"),
    [
        ({}, True),
        ({"rule_id": "bentrok-freq"}, True),
        ({"rule_id": "other"}, False),
        ({"area_code": "64"}, True),
        ({"area_code": "64.72"}, False),
        ({"starts_at": NOW + timedelta(minutes=1)}, False),
        ({"ends_at": NOW}, False),
    ],
)
def test_silences_mute_matching_alerts(fields: dict[str, object], muted: bool) -> None:
    decisions = plan(make_alert(channels=("log",), updated_at=NOW), [silence(**fields)])
    assert decisions[0].outcome is (Outcome.SILENCED if muted else Outcome.SEND)
    assert (decisions[0].silence_id == "s1") is muted


def test_provincial_alert_suppresses_same_rule_inside_and_lists_children() -> None:
    index = ActiveIndex()
    before = plan(make_alert("r", "64.71", channels=("log",), updated_at=NOW), index=index)
    assert before[0].outcome is Outcome.SEND  # no parent yet
    parent = make_alert("r", "64", channels=("log",), updated_at=NOW)
    parent_decision = plan(parent, index=index)[0]
    assert parent_decision.outcome is Outcome.SEND
    assert [c.area_code for c in parent_decision.notification.children] == ["64.71"]
    child = plan(make_alert("r", "64.72", channels=("log",), updated_at=NOW), index=index)[0]
    assert (child.outcome, child.suppressed_by) == (Outcome.SUPPRESSED, parent.alert_id)
    other_rule = plan(make_alert("q", "64.72", channels=("log",), updated_at=NOW), index=index)
    assert other_rule[0].outcome is Outcome.SEND
    other_province = plan(make_alert("r", "63.71", channels=("log",), updated_at=NOW), index=index)
    assert other_province[0].outcome is Outcome.SEND
    # acknowledged still holds back; resolved releases
    plan(
        make_alert(
            "r",
            "64",
            channels=("log",),
            state="acknowledged",
            change="acknowledged",
            updated_at=NOW,
        ),
        index=index,
    )
    assert (
        plan(make_alert("r", "64.73", channels=("log",), updated_at=NOW), index=index)[0].outcome
        is Outcome.SUPPRESSED
    )
    plan(
        make_alert(
            "r", "64", channels=("log",), state="resolved", change="resolved", updated_at=NOW
        ),
        index=index,
    )
    assert (
        plan(make_alert("r", "64.74", channels=("log",), updated_at=NOW), index=index)[0].outcome
        is Outcome.SEND
    )


def test_silence_wins_over_suppression() -> None:
    index = ActiveIndex()
    plan(make_alert("r", "64", channels=("log",), updated_at=NOW), index=index)
    child = plan(make_alert("r", "64.71", channels=("log",), updated_at=NOW), [silence()], index)
    assert child[0].outcome is Outcome.SILENCED


def test_dedupe_skips_seen_and_repeated_keys() -> None:
    alert = make_alert(channels=("log", "tg", "log"), updated_at=NOW)
    decisions = plan(alert)
    seen = {decisions[1].notification.key}
    assert [d.notification.channel for d in new_decisions(decisions, seen.__contains__)] == ["log"]


# --- backoff --------------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    low = [backoff_delay(n, 0.5, 4.0, rand=lambda: 0.0) for n in range(1, 6)]
    high = [backoff_delay(n, 0.5, 4.0, rand=lambda: 1.0) for n in range(1, 6)]
    assert high == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert low == [h / 2 for h in high]
    with pytest.raises(ValueError):
        backoff_delay(0, 0.5, 4.0)


# --- tracker --------------------------------------------------------------------------------------


def test_offsets_commit_only_past_final_notifications() -> None:
    tracker = OffsetTracker()
    tracker.start(0, 10)
    assert tracker.committable() == {0: 10}
    tracker.record(0, 10, ["a", "b"])
    tracker.record(0, 11, [])
    tracker.record(0, 12, ["b"])  # the same key again: waits for the same delivery
    assert tracker.committable() == {0: 10}
    tracker.final("a")
    assert tracker.committable() == {0: 10}
    tracker.final("b")
    assert tracker.committable() == {0: 13}
    assert tracker.pending() == 0


# --- rendering ------------------------------------------------------------------------------------


def test_render_indonesian_with_wita_time_evidence_late_and_ack() -> None:
    alert = make_alert(
        tier="critical",
        state="acknowledged",
        change="acknowledged",
        updated_at=NOW,
        late=True,
        acknowledged_at=NOW,
    )
    text = render(Notification("k", alert, "log", ()), WITA).text
    assert text.startswith("[KRITIS] DITANGANI: Bentrokan beruntun — Kota Balikpapan")
    assert "Waktu: 10 Feb 2024 17:00 WITA" in text
    assert "terlambat" in text
    assert "Ditangani oleh AKBP Sutrisno pada 10 Feb 2024 17:00 WITA" in text
    assert "Bukti (laporan): r-1, r-2, r-3" in text
    assert alert.message_id in text and alert.message_en not in text


def test_render_english_and_titles_per_change() -> None:
    alert = make_alert(updated_at=NOW)
    rendered = render(Notification("k", alert, "log", ()), WITA, "en")
    assert rendered.title.startswith("[WARNING] ALERT:")
    assert alert.message_en in rendered.text
    resolved = make_alert(state="resolved", change="resolved", updated_at=NOW)
    assert "[WASPADA] SELESAI" in render(Notification("k", resolved, "log", ()), WITA).title
    assert rendered.markdown.startswith("*[WARNING] ALERT:")


def test_format_time_uses_indonesian_months() -> None:
    assert (
        format_time(datetime(2024, 8, 17, 2, 0, tzinfo=UTC), WITA, "id") == "17 Agu 2024 10:00 WITA"
    )


# --- signatures and payloads ----------------------------------------------------------------------


def test_hmac_signature_verifies_only_the_exact_body() -> None:
    alert = make_alert(updated_at=NOW)
    notification = Notification("key-1", alert, "posko", ())
    body = webhook_payload(notification, render(notification, WITA), NOW)
    header = sign(b"secret", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(b"secret", body, header)
    assert not verify_signature(b"other", body, header)
    assert not verify_signature(b"secret", body + b" ", header)
    assert not verify_signature(b"secret", body, None)
    document = json.loads(body)
    assert document["notification_key"] == "key-1"
    assert document["alert"]["alert_id"] == alert.alert_id


def test_message_id_is_stable_per_key() -> None:
    assert message_id_for("a/b") == message_id_for("a/b") != message_id_for("a/c")


# --- config ---------------------------------------------------------------------------------------

GOOD = """
channels:
  posko-webhook: {type: webhook, url: "https://x.example/h", secret_env: POSKO_SECRET}
  log: {type: log}
"""


def test_config_resolves_secrets_from_the_environment() -> None:
    channels = resolve_secrets(parse_channels(GOOD), {"POSKO_SECRET": "s3cret"})
    assert channels["posko-webhook"].secrets == {"secret": "s3cret"}
    assert "s3cret" not in repr(channels)
    assert channels["log"].config.notify_on == (
        AlertChange.FIRED,
        AlertChange.ESCALATED,
        AlertChange.ACKNOWLEDGED,
        AlertChange.RESOLVED,
    )


def test_missing_secret_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_secrets(parse_channels(GOOD), {})
    assert info.value.problems == [
        "channels.posko-webhook: environment variable POSKO_SECRET (secret) is not set"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("channels: {a: {type: pager}}", "channels.a"),
        ("channels: {a: {type: webhook, url: nope, secret_env: X}}", "channels.a.url"),
        ("channels: {a: {type: log, notify_on: [update2]}}", "channels.a.notify_on.0"),
        ("channels: {a: {type: email, host: h, from_address: x}}", "channels.a.from_address"),
        ("channels: {a: {type: log, colour: red}}", "channels.a.colour"),
        ("channels: {}", "channels"),
        ("- a\n- b", "must be a mapping"),
        ("channels: [", "not valid YAML"),
    ],
)
def test_config_errors_name_the_field(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_channels(text, "channels.yaml")
    assert any(p.startswith(problem) or problem in p for p in info.value.problems), info.value


def test_packaged_example_is_valid() -> None:
    from sinks.settings import DEFAULT_CHANNELS_FILE

    config = parse_channels(DEFAULT_CHANNELS_FILE.read_text(encoding="utf-8"))
    assert set(config.channels) == {"posko-webhook", "telegram-pimpinan", "email-kabag-ops", "log"}


def test_delivery_record_round_trips() -> None:
    record = Delivery(
        notification_key="a/firing/warning/log",
        alert_id="a",
        rule_id="r",
        channel="log",
        state="firing",
        tier="warning",
        change="fired",
        attempt=1,
        status=DeliveryStatus.DELIVERED,
        at=NOW,
    )
    assert Delivery.model_validate_json(record.model_dump_json()) == record
    assert not DeliveryStatus.RETRYING.final and DeliveryStatus.FAILED.final
