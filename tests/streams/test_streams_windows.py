"""Minute buckets: event-time placement, sliding windows, bounded memory."""

from __future__ import annotations

import math
import random

from schemas.report import Category, ReportKind
from streams import codec
from streams.scoring import ScoringConfig
from streams.windows import Buckets, Contribution


def test_reports_are_counted_in_the_minute_they_occurred() -> None:
    buckets = Buckets()
    buckets.count_report(100, ReportKind.INCIDENT, Category.CLASH)
    buckets.count_report(100, ReportKind.CHECK_IN, Category.OTHER)
    buckets.count_report(40, ReportKind.INCIDENT, Category.HOAX)  # late, placed in the past
    short = buckets.window(100, 60)
    assert (short.reports, short.check_ins, dict(short.by_category)) == (1, 1, {"clash": 1})
    long = buckets.window(100, 1440)
    assert (long.reports, dict(long.by_category)) == (2, {"clash": 1, "hoax": 1})
    # The window slides with the clock: at minute 160 the minute-100 reports are still in the
    # hour, at 161 they are not.
    assert buckets.window(159, 60).reports == 1
    assert buckets.window(160, 60).reports == 0


def test_out_of_order_arrival_gives_the_same_windows() -> None:
    events = [(minute, Category.CLASH) for minute in range(0, 300, 7)]
    in_order, shuffled = Buckets(), Buckets()
    for minute, category in events:
        in_order.count_report(minute, ReportKind.INCIDENT, category)
    for minute, category in random.Random(3).sample(events, len(events)):
        shuffled.count_report(minute, ReportKind.INCIDENT, category)
    for now in (100, 200, 300):
        assert in_order.window(now, 60) == shuffled.window(now, 60)


def test_score_decays_by_bucket_minute(config: ScoringConfig) -> None:
    buckets = Buckets()
    buckets.add(Contribution(0, 20.0, "clash", 4, "r-1"))
    buckets.add(Contribution(180, 10.0, "crowd", 3, "r-2"))
    assert buckets.score(180, config) == 20.0 * 0.5 + 10.0
    assert buckets.score(1440, config) == 10.0 * config.decay(1260)  # r-1 left the window
    assert buckets.score(100, config) == 20.0 * config.decay(100)  # r-2 not yet happened


def test_removing_a_contribution_restores_the_bucket(config: ScoringConfig) -> None:
    buckets = Buckets()
    contribution = Contribution(5, 12.5, "riot", 5, "r-1")
    buckets.add(contribution)
    assert buckets.open_counts(5, 1440) == (1, {"riot": 1}, {"5": 1})
    buckets.remove(contribution)
    assert buckets.score(5, config) == 0.0
    assert buckets.open_counts(5, 1440) == (0, {}, {})
    assert len(buckets) == 0  # empty buckets are dropped


def test_memory_is_bounded_by_the_retention_period(config: ScoringConfig) -> None:
    """Many reports a minute for three days: never more buckets than minutes retained."""
    buckets = Buckets()
    for minute in range(3 * 1440):
        for _ in range(5):
            buckets.count_report(minute, ReportKind.INCIDENT, Category.CROWD)
        buckets.prune(minute, config.retention_minutes)
        assert len(buckets) <= config.retention_minutes
    assert len(buckets) == config.retention_minutes
    assert buckets.window(3 * 1440 - 1, 1440).reports == 5 * 1440


def test_round_trips_through_storage() -> None:
    buckets = Buckets()
    buckets.count_report(7, ReportKind.INCIDENT, Category.CLASH)
    buckets.add(Contribution(7, 3.5, "clash", 2, "r-9"))
    again = Buckets.decode(buckets.encode())
    assert again.encode() == buckets.encode()
    assert again.window(7, 60) == buckets.window(7, 60)


def _random_history(config: ScoringConfig, seed: int) -> tuple[Buckets, list[Contribution]]:
    """Reports, incidents opened and closed, late ones and pruning, as an area sees them."""
    rng = random.Random(seed)
    buckets, opened = Buckets(), list[Contribution]()
    for now in range(0, 3000, 3):
        minute = now - rng.choice([0, 0, 0, 5, 90, 2000])  # some late, some very late
        category = rng.choice(list(Category))
        buckets.count_report(minute, ReportKind.INCIDENT, category)
        if rng.random() < 0.6:
            share = Contribution(minute, rng.uniform(0.5, 9), category.value, 3, f"r-{now}")
            buckets.add(share)
            opened.append(share)
        if opened and rng.random() < 0.3:
            buckets.remove(opened.pop(rng.randrange(len(opened))))
        buckets.prune(now, config.retention_minutes)
    return buckets, opened


def test_the_score_is_the_exact_sum_over_the_buckets_of_the_incident_window(
    config: ScoringConfig,
) -> None:
    for seed in range(5):
        buckets, _ = _random_history(config, seed)
        for now in (2990, 3100, 3000 + config.incident_window_minutes - 5, 9000):
            expected = math.fsum(
                bucket.weight * config.decay(now - minute)
                for minute in buckets.minutes()
                if (bucket := buckets.get(minute)) is not None and now - minute >= 0
            )
            assert buckets.score(now, config) == expected


def test_the_stored_json_follows_every_change(config: ScoringConfig) -> None:
    buckets, opened = _random_history(config, 7)
    first = codec.dumps({"b": buckets.encode_json()})
    assert first == codec.dumps({"b": buckets.encode()})
    # Change some buckets after the JSON was made once: the next JSON must show them.
    buckets.count_report(buckets.minutes()[-1], ReportKind.CHECK_IN, Category.OTHER)
    buckets.remove(opened[-1])
    buckets.prune(3600, config.retention_minutes)
    again = codec.dumps({"b": buckets.encode_json()})
    assert again == codec.dumps({"b": buckets.encode()})
    assert again != first
    assert Buckets.decode(codec.loads(again)["b"]).encode() == buckets.encode()


def test_the_score_kept_between_events_of_a_minute_is_the_full_sum_bit_for_bit(
    config: ScoringConfig,
) -> None:
    """Several events per minute, each asking for the score (as the engine does): the kept
    score takes every change, at any minute of the window, and equals the full sum."""
    rng = random.Random(11)
    buckets, opened = Buckets(), list[Contribution]()
    kept = 0
    for now in range(0, 2400, 7):
        buckets.prune(now, config.retention_minutes)
        for event in range(rng.randint(1, 6)):
            minute = now - rng.choice([0, 0, 1, 30, 600, 1439, 1440, 3000])
            if rng.random() < 0.7:
                share = Contribution(minute, rng.uniform(0.1, 9), "kerusuhan", 3, f"r{now}-{event}")
                buckets.add(share)
                opened.append(share)
            if opened and rng.random() < 0.4:
                buckets.remove(opened.pop(rng.randrange(len(opened))))
            score = buckets.score(now, config)
            fresh = Buckets.decode(codec.loads(codec.dumps(buckets.encode())))
            assert score == fresh.score(now, config)  # a restarted worker's, same bits
            assert score == math.fsum(
                bucket.weight * config.decay(now - minute)
                for minute in buckets.minutes()
                if (bucket := buckets.get(minute)) is not None and now - minute >= 0
            )
            kept += buckets._score_terms is not None  # the score read was the kept one
    assert kept > 100


def test_many_changes_between_two_scores_keep_the_kept_score_exact(config: ScoringConfig) -> None:
    buckets = Buckets()
    buckets.add(Contribution(1000, 2.5, "kerusuhan", 3, "r-0"))
    buckets.score(1000, config)
    buckets.score(1000, config)  # kept from here on
    rng = random.Random(3)
    for number in range(400):  # more than the kept terms may grow to before they are merged
        minute = 1000 - rng.randrange(0, 1500)
        buckets.add(Contribution(minute, rng.uniform(0.1, 9), "kerusuhan", 2, f"r-{number}"))
    fresh = Buckets.decode(codec.loads(codec.dumps(buckets.encode())))
    assert buckets.score(1000, config) == fresh.score(1000, config)


def _open_counts_summed(
    buckets: Buckets, now: int, window: int
) -> tuple[int, dict[str, int], dict[str, int]]:
    """Open counts added up bucket by bucket over the window (what a status shows)."""
    total, by_category, by_severity = 0, dict[str, int](), dict[str, int]()
    for minute in buckets.minutes():
        bucket = buckets.get(minute)
        if bucket is not None and now - window < minute <= now:
            total += bucket.open
            for key, count in bucket.open_by_category.items():
                by_category[key] = by_category.get(key, 0) + count
            for key, count in bucket.open_by_severity.items():
                by_severity[key] = by_severity.get(key, 0) + count
    return total, by_category, by_severity


def test_open_counts_follow_every_change_and_match_the_buckets(config: ScoringConfig) -> None:
    """Incidents opened and resolved at any minute (late ones, ones ahead of the clock), with
    pruning: the kept counts equal the buckets added up, and a decoded copy's."""
    rng = random.Random(5)
    buckets, opened = Buckets(), list[Contribution]()
    window = config.incident_window_minutes
    for now in range(0, 4000, 13):
        buckets.prune(now, config.retention_minutes)
        for event in range(rng.randint(1, 5)):
            if rng.random() < 0.65:
                minute = now - rng.choice([-5, 0, 0, 1, 60, 1439, 1440, 2000])
                category = rng.choice(["kerusuhan", "hoaks", "logistik"])
                share = Contribution(
                    minute, rng.uniform(0, 5), category, rng.randint(1, 5), f"r{event}"
                )
                buckets.add(share)
                opened.append(share)
            elif opened:
                buckets.remove(opened.pop(rng.randrange(len(opened))))
        fresh = Buckets.decode(codec.loads(codec.dumps(buckets.encode())))
        for at, width in ((now, window), (now, 60), (now - 30, window), (now + 2000, window)):
            expected = _open_counts_summed(buckets, at, width)
            assert buckets.open_counts(at, width) == expected
            assert fresh.open_counts(at, width) == expected
    assert _open_counts_summed(buckets, 3990, window)[0] > 0  # incidents were open at the end


def test_buckets_kept_as_json_change_as_decoded_ones_do(config: ScoringConfig) -> None:
    """A worker stores an area after every batch and then keeps its buckets as their JSON.
    The same changes made to buckets stored and read back after every step (so every change
    lands on a bucket kept as JSON) give the same bytes, score and counts as buckets never
    stored."""
    rng = random.Random(8)
    plain, stored = Buckets(), Buckets()
    opened = list[Contribution]()
    window = config.incident_window_minutes
    for now in range(0, 3000, 11):
        for buckets in (plain, stored):
            buckets.prune(now, config.retention_minutes)
        for event in range(rng.randint(1, 4)):
            minute = now - rng.choice([0, 0, 1, 90, 1439, 1500])
            roll = rng.random()
            for buckets in (plain, stored):
                if roll < 0.4:
                    buckets.count_report(minute, ReportKind.INCIDENT, Category.CLASH)
                elif roll < 0.75:
                    share = Contribution(minute, 1.5 + event, "kerusuhan", 3, f"r{now}-{event}")
                    buckets.add(share)
                elif opened:
                    buckets.remove(opened[-1])
            if 0.4 <= roll < 0.75:
                opened.append(share)
            elif roll >= 0.75 and opened:
                opened.pop()
        if now % 5 == 0:  # a restart: read back from the stored bytes
            stored = Buckets.decode(codec.loads(codec.dumps(stored.encode_json())))
        stored.encode_json()  # what storing does: every bucket is JSON alone from here on
        assert codec.dumps(stored.encode_json()) == codec.dumps(plain.encode_json())
        assert stored.score(now, config) == plain.score(now, config)
        assert stored.open_counts(now, window) == plain.open_counts(now, window)
        assert stored.window(now, 60) == plain.window(now, 60)
    assert len(plain) > 100
