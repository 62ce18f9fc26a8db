"""The chaos suite's own parts that need no stack: the invariant checks, the input and the
webhook receiver's failure modes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from schemas.registry import default_registry
from sitrep.chaos import invariants, report
from sitrep.chaos.feed import AGE, build_input, shift_times
from sitrep.chaos.receiver import Mode, Receiver
from sitrep.chaos.run import (
    Expected,
    ScenarioResult,
    Snapshot,
    alert_change_keys,
    notifications_due,
    still_open,
)


def status(level: str = "AMAN", score: float = 1.0, **fields: object) -> dict[str, object]:
    return {"area_code": "64.71", "level": level, "score": score, "updated_at": "x", **fields}


def test_reports_indexed_once_names_missing_duplicated_and_unknown_ids() -> None:
    assert invariants.reports_indexed_once({"a", "b"}, ["a", "b"]).held
    broken = invariants.reports_indexed_once({"a", "b", "c"}, ["a", "a", "b", "z"])
    assert not broken.held
    assert "1 accepted but not indexed: c" in broken.detail
    assert "1 indexed more than once: a" in broken.detail
    assert "1 indexed but never accepted: z" in broken.detail


def test_statuses_compare_the_situation_not_the_sending_time() -> None:
    expected = {"64.71": status(score=2.00001, updated_at="10:00")}
    assert invariants.statuses_match(
        expected, {"64.71": status(score=2.0, updated_at="11:00")}
    ).held
    changed = invariants.statuses_match(expected, {"64.71": status("WASPADA", score=2.0)})
    assert not changed.held and "'level': ('AMAN', 'WASPADA')" in changed.detail
    missing = invariants.statuses_match(expected, {})
    assert not missing.held and "1 areas without a status: 64.71" in missing.detail


def test_delivered_once_wants_every_due_key_and_no_other() -> None:
    assert invariants.delivered_once({"k1", "k2"}, ["k2", "k1"]).held
    # Sent again after a crash under the same key: an idempotent receiver acts once.
    again = invariants.delivered_once({"k1", "k2"}, ["k1", "k1", "k2"])
    assert again.held and "(1 sent again under the same Idempotency-Key)" in again.detail
    assert "never delivered: k2" in invariants.delivered_once({"k1", "k2"}, ["k1"]).detail
    stray = invariants.delivered_once({"k1"}, ["k1", "k9"])
    assert not stray.held and "delivered but not due: k9" in stray.detail


def test_still_open_names_what_keeps_a_run_from_having_caught_up() -> None:
    alert = {"alert_id": "a1", "state": "firing", "tier": "warning", "change": "fire"}
    alerts = [({**alert, "routes": [{"channel": "webhook"}]}, 0)]
    indexed = [("r1", None, None)]
    snap = Snapshot(indexed, {"64.71": status()}, alerts, [], [], [], lag=3)
    expected = Expected({"64.71": status("SIAGA")}, frozenset(), frozenset())
    waiting = still_open(snap, {"r1", "r2"}, expected)
    assert waiting[0] == "worker lag 3"
    assert waiting[1] == "1 accepted reports not indexed (e.g. r2)"
    assert waiting[2] == "1 due notifications not delivered (e.g. a1/firing/warning/webhook)"
    assert waiting[3].startswith("statuses differ: 1 areas differ: 64.71")
    caught_up = Snapshot(
        indexed, {"64.71": status()}, alerts, ["a1/firing/warning/webhook"], [], [], 0
    )
    assert still_open(caught_up, {"r1"}, None) == []


def test_a_broken_run_shows_the_end_of_each_roles_log(tmp_path: Path) -> None:
    (tmp_path / "worker.log").write_text("".join(f"line {n}\n" for n in range(100)))
    (tmp_path / "indexer.log").write_text("x" * 1000 + "\n")
    tails = report.log_tails(ScenarioResult("s", "d", logs=tmp_path), lines=3, width=10)
    assert tails.splitlines() == [
        "--- indexer.log (last 1 lines)",
        "x" * 10,
        "--- worker.log (last 3 lines)",
        "line 97",
        "line 98",
        "line 99",
    ]
    assert report.log_tails(ScenarioResult("s", "d", logs=tmp_path / "gone")) == ""


def test_dead_letters_count_distinct_inputs() -> None:
    assert invariants.dead_letters_match(2, ["d1", "d2", "d1"]).held  # one input retried
    assert not invariants.dead_letters_match(2, ["d1"]).held


def test_failed_check_names_only_a_few_ids() -> None:
    broken = invariants.reports_indexed_once({f"r{i:03}" for i in range(40)}, [])
    assert broken.detail.endswith("(+35 more)")


def test_shift_moves_both_times_and_leaves_invalid_bytes_alone() -> None:
    raw = b'{"report_id":"r1","occurred_at":"2024-11-27T09:00:00+08:00","received_at":"x"}'
    moved = json.loads(shift_times(raw, timedelta(days=1, hours=1)))
    assert moved["occurred_at"] == "2024-11-28T10:00:00+08:00"
    assert moved["received_at"] == "x"  # not a time: as it was
    assert shift_times(b"{not json", timedelta(days=1)) == b"{not json"
    assert shift_times(b"[1, 2]", timedelta(days=1)) == b"[1, 2]"


def test_input_is_a_voting_day_that_ended_two_days_ago() -> None:
    now = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    submissions = build_input(default_registry(), now=now)
    kinds = {s.kind for s in submissions}
    assert {"check_in", "incident", "episode", "follow_up", "duplicate", "invalid"} <= kinds
    times = [
        datetime.fromisoformat(json.loads(s.raw)["occurred_at"])
        for s in submissions
        if s.kind != "invalid"
    ]
    assert max(times) <= now - AGE
    assert max(times) - min(times) > timedelta(hours=10)
    assert build_input(default_registry(), now=now) == submissions  # the same every time


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hooks = Receiver(hang_s=1.0)
    hooks.start()
    yield hooks
    hooks.stop()


def test_receiver_counts_only_answers_that_reached_the_sender(receiver: Receiver) -> None:
    headers = {"Idempotency-Key": "a/firing/warning/posko"}
    assert httpx.post(receiver.url("posko"), content=b"{}", headers=headers).status_code == 200
    receiver.set_mode("posko", Mode.FAIL)
    assert httpx.post(receiver.url("posko"), content=b"{}", headers=headers).status_code == 500
    receiver.set_mode("posko", Mode.HANG)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(receiver.url("posko"), content=b"{}", headers=headers, timeout=0.3)
    receiver.set_mode("posko", Mode.OK)
    httpx.post(receiver.url("other"), content=b"{}", headers={"Idempotency-Key": "b"})
    time.sleep(1.5)  # the hung request ends after the sender gave up
    assert receiver.keys() == ["a/firing/warning/posko", "b"]
    assert receiver.refused == 2


def alert(alert_id: str, change: str, state: str, tier: str, rule_type: str = "frequency") -> dict:
    routes = [{"channel": "posko-webhook"}, {"channel": "log"}]
    return {
        "alert_id": alert_id,
        "change": change,
        "state": state,
        "tier": tier,
        "rule_type": rule_type,
        "routes": routes,
    }


def test_notifications_due_are_every_change_but_update_on_every_route_less_held_back() -> None:
    records = [
        (alert("a1", "fired", "firing", "warning"), 0),
        (alert("a1", "update", "firing", "warning"), 0),
        (alert("a1", "escalated", "firing", "critical"), 0),
        (alert("a2", "fired", "firing", "warning"), 0),
    ]
    held = [{"notification_key": "a2/firing/warning/log", "status": "suppressed"}]
    assert notifications_due(records, held) == {
        "a1/firing/warning/posko-webhook",
        "a1/firing/warning/log",
        "a1/firing/critical/posko-webhook",
        "a1/firing/critical/log",
        "a2/firing/warning/posko-webhook",
    }


def test_alert_comparison_leaves_out_level_rules() -> None:
    records = [
        (alert("a1", "fired", "firing", "warning"), 0),
        (alert("lv", "fired", "firing", "warning", rule_type="level"), 0),
    ]
    assert alert_change_keys(records) == {"a1/firing/warning"}
