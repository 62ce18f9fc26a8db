"""The rule engine: every rule type, tiers, realert, resolve, flapping, ids, late, acks."""

from __future__ import annotations

import random
from datetime import timedelta

from schemas.alert import AlertAck, AlertChange, AlertState, AlertTier
from schemas.status import AreaStatus, StatusLevel
from streams.rules.engine import TICKED_KEY, MemoryRuleStore, RuleTable
from streams.timebase import minute_of
from tests.streams.rules.conftest import EXPECTED, T0, HarnessFactory, make_report, make_rule

ROUTE = [{"channel": "log"}]
FREQ = make_rule(
    "frequency",
    params={"window": "10m"},
    tiers={"warning": {"count": 3, "routes": ROUTE}, "critical": {"count": 5, "routes": ROUTE}},
    realert="30m",
    resolve_after="5m",
)


def changes(alerts: list) -> list[tuple[str, str]]:
    return [(a.change.value, a.tier.value) for a in alerts]


def test_frequency_fires_escalates_updates_and_resolves(harness: HarnessFactory) -> None:
    h = harness(FREQ)
    assert h.feed(make_report(0, "r1"), make_report(1, "r2")) == []
    fired = h.feed(make_report(2, "r3"))
    assert changes(fired) == [("fired", "warning")]
    alert = fired[0]
    assert alert.value == 3 and alert.threshold == 3 and alert.area_name == "Kota Balikpapan"
    assert alert.evidence_report_ids == ("r1", "r2", "r3")
    assert alert.routes[0].channel == "log" and not alert.late
    assert changes(h.feed(make_report(3, "r4"))) == [("update", "warning")]
    escalated = h.feed(make_report(4, "r5"))
    assert changes(escalated) == [("escalated", "critical")]
    assert escalated[0].alert_id == alert.alert_id
    assert escalated[0].updated_at > alert.updated_at
    # Fewer than 3 reports in [t-9, t] from minute 12; 5 minutes of calm -> resolved at 17.
    resolved = h.tick_range(5, 25)
    assert changes(resolved) == [("resolved", "critical")]
    assert resolved[0].state is AlertState.RESOLVED and resolved[0].resolved_at is not None
    assert resolved[0].updated_at == T0 + timedelta(minutes=17)


def test_frequency_below_threshold_in_other_group_does_not_fire(harness: HarnessFactory) -> None:
    h = harness(FREQ)
    reports = [make_report(0, "a1"), make_report(1, "b1", district="64.72", subdistrict=None)]
    assert h.feed(*reports, make_report(2, "a2")) == []


def test_realert_suppresses_new_episode_until_period_over(harness: HarnessFactory) -> None:
    h = harness(FREQ)  # realert 30m
    first = h.feed(*(make_report(m, f"a{m}") for m in range(3)))[0]
    assert changes(h.tick_range(3, 20)) == [("resolved", "warning")]  # at minute 15
    assert h.feed(*(make_report(m, f"b{m}") for m in range(25, 28))) == []  # within realert
    assert h.tick_range(28, 50) == []  # the b-reports left the window before minute 45
    later = h.feed(*(make_report(m, f"c{m}") for m in range(50, 53)))
    assert changes(later) == [("fired", "warning")]
    assert later[0].alert_id != first.alert_id


def test_realert_fires_on_tick_when_condition_still_holds(harness: HarnessFactory) -> None:
    h = harness({**FREQ, "realert": "10m"})
    h.feed(*(make_report(m, f"a{m}") for m in range(3)))
    h.tick_range(3, 20)  # clear from minute 10 (report a0 left the window): resolved at 15
    assert h.feed(*(make_report(m, f"b{m}") for m in range(20, 23))) == []  # before 25
    realert = h.tick_range(23, 30)
    assert changes(realert) == [("fired", "warning")]
    assert realert[0].updated_at == T0 + timedelta(minutes=25)


def test_same_input_twice_gives_same_alerts(harness: HarnessFactory) -> None:
    reports = [make_report(m, f"r{m}") for m in range(6)]
    first, second = harness(FREQ), harness(FREQ)
    first.feed(*reports)
    second.feed(*reports)
    first.tick_range(6, 30)
    second.tick_range(6, 30)
    assert [a.model_dump() for a in first.alerts] == [a.model_dump() for a in second.alerts]


def test_replayed_offsets_do_not_fire_twice(harness: HarnessFactory) -> None:
    h = harness(FREQ)
    reports = [make_report(m, f"r{m}") for m in range(3)]
    assert changes(h.feed(*reports)) == [("fired", "warning")]
    h.offset = 0  # Kafka delivers the same offsets again after a crash
    assert h.feed(*reports) == []


def test_late_report_completing_a_window_fires_late(harness: HarnessFactory) -> None:
    h = harness(FREQ)
    h.feed(make_report(0, "r1"), make_report(1, "r2"))
    h.feed(make_report(15, "other", district="64.72", subdistrict=None))  # stream time 15
    late = h.feed(make_report(2, "r3"))
    assert changes(late) == [("fired", "warning")]
    assert late[0].late is True
    assert late[0].window_start == T0 and late[0].first_fired_at == T0 + timedelta(minutes=15)


def test_a_batch_is_judged_report_by_report_not_by_its_newest(harness: HarnessFactory) -> None:
    # A worker back from a crash reads the backlog in one poll: the report that completes the
    # window must not be judged too late by the clock of a report three hours after it.
    # A fresh worker has no clock at all: the batch's first report starts it.
    backlog = [make_report(m, f"r{m}") for m in range(3)]
    backlog.append(make_report(180, "quiet", kind="check_in", severity=1))
    one_by_one, batched, resumed = harness(FREQ), harness(FREQ), harness(FREQ)
    expected = one_by_one.feed(*backlog)
    got = batched.feed_batch(*backlog)
    resumed.feed(*backlog[:2])
    got_resumed = resumed.feed_batch(*backlog[2:])
    assert changes(got) == changes(got_resumed) == changes(expected) == [("fired", "warning")]
    assert got[0].evidence_report_ids == ("r0", "r1", "r2") and not got[0].late


def test_out_of_order_reports_same_alert_id(harness: HarnessFactory) -> None:
    in_order, shuffled = harness(FREQ), harness(FREQ)
    reports = [make_report(m, f"r{m}") for m in range(3)]
    a = in_order.feed(*reports)
    b = shuffled.feed(reports[2], reports[0], reports[1])
    assert a[0].alert_id == b[0].alert_id


def test_ack_then_auto_resolve(harness: HarnessFactory) -> None:
    h = harness(FREQ)
    alert = h.feed(*(make_report(m, f"r{m}") for m in range(3)))[0]
    ack = AlertAck(
        alert_id=alert.alert_id,
        area_code=alert.area_code,
        rule_type=alert.rule_type,
        acknowledged_by="kabag-ops",
        acknowledged_at=T0 + timedelta(minutes=4),
    )
    acked = h.engine.on_ack(ack, h.store)
    assert changes(acked) == [("acknowledged", "warning")]
    assert acked[0].state is AlertState.ACKNOWLEDGED and acked[0].acknowledged_by == "kabag-ops"
    assert h.engine.on_ack(ack, h.store) == []  # already acknowledged
    unknown = ack.model_copy(update={"alert_id": "alert-nope-000"})
    assert h.engine.on_ack(unknown, h.store) == []
    assert changes(h.tick_range(4, 30)) == [("resolved", "warning")]
    assert h.engine.on_ack(ack, h.store) == []  # resolved


def test_flapping_holds_alert_firing(harness: HarnessFactory) -> None:
    rule = {**FREQ, "realert": "1m", "flapping": {"max_transitions": 2, "period": "2h"}}
    h = harness(rule)
    h.feed(*(make_report(m, f"a{m}") for m in range(3)))
    h.tick_range(3, 20)
    assert h.alerts[-1].change is AlertChange.RESOLVED  # fire + resolve = 2 transitions
    h.feed(*(make_report(m, f"b{m}") for m in range(20, 23)))
    assert h.alerts[-1].change is AlertChange.FIRED
    h.tick_range(23, 60)  # would resolve at ~38 without damping
    assert h.alerts[-1].change is AlertChange.FIRED
    h.tick_range(60, 160)
    assert h.alerts[-1].change is AlertChange.RESOLVED
    assert h.alerts[-1].updated_at >= T0 + timedelta(minutes=120)  # held beyond resolve_after


def test_keyword_stems_tiers_and_phrases(harness: HarnessFactory) -> None:
    rule = make_rule(
        "keyword",
        params={"terms": ["bentrok", "senjata tajam", "bakar"], "window": "1h"},
        tiers={
            "warning": {"routes": ROUTE},
            "critical": {"terms": ["bakar"], "severity_min": 4, "routes": ROUTE},
        },
        messages={"id": "Kata kunci {terms} di {area_name}", "en": "Terms {terms} in {area_name}"},
    )
    h = harness(rule)
    assert h.feed(make_report(0, "x", text="senjata di rumah, tajam sekali")) == []
    fired = h.feed(make_report(1, "k1", text="Terjadi bentrokan antar pendukung", severity=3))
    assert changes(fired) == [("fired", "warning")]
    assert "bentrok" in fired[0].message_id
    assert changes(
        h.feed(make_report(2, "k2", text="Warga membawa senjata tajam", severity=3))
    ) == [("update", "warning")]
    assert changes(h.feed(make_report(3, "k3", text="Posko dibakar massa", severity=2))) == [
        ("update", "warning")
    ]
    escalated = h.feed(make_report(4, "k4", text="Massa membakar ban", severity=4))
    assert changes(escalated) == [("escalated", "critical")]


def test_proximity_distance_tiers_and_site_radius(harness: HarnessFactory) -> None:
    rule = make_rule(
        "proximity",
        params={"radius_m": 1000, "window": "1h"},
        tiers={"warning": {"routes": ROUTE}, "critical": {"radius_m": 150, "routes": ROUTE}},
        messages={"id": "{distance_m} m dari {site_name}", "en": "{distance_m} m from {site_name}"},
    )
    h = harness(rule)
    far = make_report(0, "p0", district="64.72", subdistrict=None, location=(-0.50, 117.152))
    assert h.feed(far) == []  # ~1.9 km
    near = make_report(1, "p1", district="64.72", subdistrict=None, location=(-0.4880, 117.1520))
    fired = h.feed(near)
    assert changes(fired) == [("fired", "warning")]
    assert fired[0].group_key == "64.72/kpu-samarinda" and fired[0].area_code == "64.72"
    assert fired[0].message_id.startswith("556 m dari KPU Samarinda")
    assert fired[0].threshold == 1000
    # Site radius 300 m overrides the rule's 1000 m for the warning tier.
    h2 = harness(rule)
    assert h2.feed(make_report(0, "q0", location=(-1.2700, 116.8300))) == []  # ~556 m
    assert changes(h2.feed(make_report(1, "q1", location=(-1.2660, 116.8300)))) == [
        ("fired", "critical")
    ]


def test_flatline_expected_area_never_seen(harness: HarnessFactory) -> None:
    rule = make_rule(
        "flatline",
        scope={"group_by": "kecamatan", "areas": ["64.71"]},
        params={"window": "30m"},
        tiers={"warning": {"routes": ROUTE}, "critical": {"window": "60m", "routes": ROUTE}},
        resolve_after="5m",
    )
    h = harness(rule)
    h.tick(0)
    h.feed(*(make_report(m, f"c{m}", subdistrict="64.71.01", kind="check_in") for m in (10, 35)))
    fired = h.tick_range(1, 31)
    assert [(a.change.value, a.tier.value, a.group_key) for a in fired] == [
        ("fired", "warning", "64.71.02")
    ]
    more = h.tick_range(31, 61)
    assert ("escalated", "critical") in changes(more)
    back = h.feed(make_report(61, "c61", subdistrict="64.71.02", kind="check_in"))
    assert back == []
    resolved = [a for a in h.tick_range(61, 70) if a.group_key == "64.71.02"]
    assert changes(resolved) == [("resolved", "critical")]


def test_spike_up_and_down(harness: HarnessFactory) -> None:
    up = make_rule(
        "spike",
        params={"window": "10m", "baseline": "60m", "direction": "up", "min_count": 4},
        tiers={"warning": {"ratio": 3, "routes": ROUTE}, "critical": {"ratio": 6, "routes": ROUTE}},
    )
    h = harness(up)
    h.feed(make_report(0, "s0"))
    h.tick_range(0, 70)
    h.feed(*(make_report(m, f"b{m}") for m in range(0, 60, 20)))  # baseline: 3 per hour
    fired = h.feed(*(make_report(70 + m / 10, f"u{m}") for m in range(4)))
    assert changes(fired) == [("fired", "critical")]
    assert fired[0].value is not None and fired[0].value >= 6
    down = make_rule(
        "spike",
        params={"window": "10m", "baseline": "60m", "direction": "down", "min_count": 2},
        tiers={"warning": {"ratio": 0.5, "routes": ROUTE}},
    )
    d = harness(down)
    d.feed(*(make_report(m, f"d{m}") for m in range(0, 70, 3)))
    assert d.alerts == []
    assert changes(d.tick_range(70, 90))[:1] == [("fired", "warning")]


def _status(level: str, previous: str | None, minutes: int) -> AreaStatus:
    moment = T0 + timedelta(minutes=minutes)
    return AreaStatus(
        area_code="64.72",
        area_level="regency",
        area_name="Kota Samarinda",
        level=StatusLevel(level),
        previous_level=StatusLevel(previous) if previous else None,
        score=1.0,
        level_changed_at=moment,
        change_reason="uji",
        updated_at=moment,
    )


def test_level_escalation_tiers_and_resolve(harness: HarnessFactory) -> None:
    rule = make_rule(
        "level",
        params={"escalation": True},
        tiers={
            "warning": {"level": "SIAGA", "routes": ROUTE},
            "critical": {"level": "AWAS", "routes": ROUTE},
        },
        resolve_after="10m",
        messages={"id": "{area_name} {level}", "en": "{area_name} {level}"},
    )
    h = harness(rule)
    engine, store = h.engine, h.store
    assert engine.on_status(0, _status("SIAGA", None, 0), store) == []  # steady, not a rise
    fired = engine.on_status(1, _status("SIAGA", "WASPADA", 1), store)
    assert (
        changes(fired) == [("fired", "warning")]
        and fired[0].message_en == "Kota Samarinda SIAGA (watch)"
    )
    assert engine.on_status(1, _status("AWAS", "SIAGA", 1), store) == []  # offset replayed
    assert changes(engine.on_status(2, _status("AWAS", "SIAGA", 5), store)) == [
        ("escalated", "critical")
    ]
    assert engine.on_status(3, _status("WASPADA", "AWAS", 20), store) == []
    assert changes(engine.on_status(4, _status("WASPADA", "AWAS", 31), store)) == [
        ("resolved", "critical")
    ]


def test_state_is_bounded_and_expires(harness: HarnessFactory) -> None:
    h = harness(FREQ)
    h.feed(*(make_report(m / 20, f"r{m}") for m in range(200)))
    assert all(len(a.evidence_report_ids) <= 20 for a in h.alerts)
    h.tick_range(10, 200)
    assert set(h.store.tables[RuleTable.GROUPS]) <= {TICKED_KEY}  # one key per partition
    assert h.store.tables[RuleTable.ALERTS] == {}


def test_tick_ignores_other_partitions_groups(harness: HarnessFactory) -> None:
    h = harness(FREQ)
    h.feed(*(make_report(m, f"r{m}", district="64.02", subdistrict=None) for m in range(3)))
    assert h.tick_range(3, 60) == []  # 64.02 is not in this partition's expected areas
    assert any(a.tier is AlertTier.WARNING for a in h.alerts)


def test_latest_alerts_gives_each_alerts_last_record(harness: HarnessFactory) -> None:
    """What a worker republishes after taking over a partition: the newest record of each
    (rule, group), so a record lost in a crash reaches the topic after all."""
    h = harness(FREQ)
    assert h.engine.latest_alerts(h.store) == []
    first = h.feed(*(make_report(m, f"a{m}") for m in range(3)))[0]
    assert h.engine.latest_alerts(h.store) == [first]
    h.feed(make_report(3, "a3"), make_report(4, "a4"))
    resolved = h.tick_range(5, 25)[-1]
    assert h.engine.latest_alerts(h.store) == [resolved]
    other = h.feed(
        *(make_report(m, f"b{m}", district="64.72", subdistrict=None) for m in range(30, 33))
    )
    later = h.feed(*(make_report(m, f"c{m}") for m in range(60, 63)))[0]
    assert later.alert_id != first.alert_id
    assert h.engine.latest_alerts(h.store) == [other[0], later]  # oldest first


def test_status_time_is_the_send_time_live_and_the_event_time_in_a_replay() -> None:
    from streams.rules.engine import status_time

    live = _status("SIAGA", "WASPADA", 0).model_copy(
        update={"last_report_at": T0, "updated_at": T0 + timedelta(minutes=3)}
    )
    assert status_time(live) == T0 + timedelta(minutes=3)
    replayed = live.model_copy(
        update={
            "last_report_at": T0 + timedelta(minutes=2),
            "updated_at": T0 + timedelta(days=730),  # sent two years after the events
        }
    )
    assert status_time(replayed) == T0 + timedelta(minutes=2)


def test_time_driven_alerts_do_not_depend_on_batches_or_timer(harness: HarnessFactory) -> None:
    """A replay judges each minute once, after all of its reports, whether the reports come
    one by one or in batches of any size and whenever the timer happens to fire."""
    rule = make_rule(
        "flatline",
        scope={"group_by": "kecamatan", "areas": ["64.71"]},
        params={"window": "30m"},
        tiers={"warning": {"routes": ROUTE}, "critical": {"window": "60m", "routes": ROUTE}},
        resolve_after="5m",
    )
    rng = random.Random(3)
    minutes = sorted(rng.sample(range(0, 240), 40))
    reports = [
        make_report(m, f"c{m}", subdistrict=rng.choice(["64.71.01", "64.71.02"]), kind="check_in")
        for m in minutes
    ]

    def run(cut: random.Random) -> list[tuple[str, str, str, object]]:
        engine = harness(rule).engine
        store, alerts, offset, position = MemoryRuleStore(), [], 0, 0
        now = None
        while position < len(reports):
            batch = reports[position : position + cut.randint(1, 12)]
            pairs = [(offset + i, r) for i, r in enumerate(batch)]
            alerts += engine.on_reports(pairs, store, now, EXPECTED)
            offset, position = offset + len(batch), position + len(batch)
            now = max(r.occurred_at for r in reports[:position])
            if cut.random() < 0.5:  # the timer fired between two polls
                alerts += engine.tick_through(store, minute_of(now), EXPECTED)
        alerts += engine.tick_through(store, minute_of(now) + 120, EXPECTED)
        return [(a.alert_id, a.change.value, a.tier.value, a.updated_at) for a in alerts]

    first = run(random.Random(1))
    assert any(change == "fired" for _, change, _, _ in first)
    assert any(change == "resolved" for _, change, _, _ in first)
    for seed in range(2, 6):
        assert run(random.Random(seed)) == first


def test_ticks_start_afresh_when_a_replay_follows_wall_clock_ticks(
    harness: HarnessFactory,
) -> None:
    # A worker's timer ticks on the wall clock until the first report of an old day arrives:
    # the day's minutes must still be judged (the resolve below needs them).
    h = harness(FREQ)
    wall_minute = minute_of(T0) + 10 * 365 * 24 * 60
    h.engine.tick_through(h.store, wall_minute, EXPECTED)
    alerts = h.engine.on_reports(
        [(i, make_report(m, f"r{m}")) for i, m in enumerate(range(3))], h.store, None, EXPECTED
    )
    assert changes(alerts) == [("fired", "warning")]
    quiet = make_report(40, "quiet", district="64.72", subdistrict=None)
    later = h.engine.on_reports([(3, quiet)], h.store, None, EXPECTED)
    assert ("resolved", "warning") in changes(later)
