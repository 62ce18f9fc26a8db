"""Levels rise at once and fall only after a calm period, whenever the area is looked at."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from schemas.status import StatusLevel
from streams.hysteresis import LevelChange, LevelState, advance, observe
from streams.scoring import Thresholds

THRESHOLDS = Thresholds(WASPADA=8, SIAGA=24, AWAS=60)
CALM = 60


def explain(change: LevelChange) -> str:
    return f"{change.previous.value}->{change.level.value}@{change.minute}"


def decaying(start: int, score: float, half_life: float = 180) -> Callable[[int], float]:
    """Score of a single incident of ``score`` at minute ``start``."""
    return lambda minute: score * 0.5 ** ((minute - start) / half_life)


def test_rises_at_once() -> None:
    state = LevelState(evaluated_until=0)
    state = observe(state, 10, 30.0, THRESHOLDS.level_for, explain)
    assert (state.level, state.previous, state.changed_at) == (
        StatusLevel.SIAGA,
        StatusLevel.AMAN,
        10,
    )
    assert state.reason == "AMAN->SIAGA@10"


def test_falls_only_after_the_calm_period() -> None:
    score_at = decaying(0, 80.0)  # AWAS at 0; below 60 from minute 75 (80 * 0.5**(75/180))
    state = observe(LevelState(evaluated_until=0), 0, score_at(0), THRESHOLDS.level_for, explain)
    assert state.level is StatusLevel.AWAS
    first_below = next(m for m in range(400) if score_at(m) < 60)

    held = advance(state, first_below + CALM - 1, score_at, THRESHOLDS.level_for, CALM, explain)
    assert held.level is StatusLevel.AWAS
    assert held.below_since == first_below

    dropped = advance(state, first_below + CALM, score_at, THRESHOLDS.level_for, CALM, explain)
    assert dropped.level is StatusLevel.SIAGA  # the level the score shows at that minute
    assert dropped.changed_at == first_below + CALM
    assert dropped.previous is StatusLevel.AWAS


def test_a_new_rise_cancels_the_calm_period() -> None:
    state = observe(LevelState(evaluated_until=0), 0, 70.0, THRESHOLDS.level_for, explain)
    state = observe(state, 20, 50.0, THRESHOLDS.level_for, explain)  # below AWAS
    assert state.below_since == 20
    state = observe(state, 40, 65.0, THRESHOLDS.level_for, explain)  # back up
    assert state.below_since is None and state.level is StatusLevel.AWAS


def test_no_flapping_around_a_threshold() -> None:
    """A score oscillating around 24 leaves SIAGA only when it stays down for CALM minutes."""
    state = LevelState(evaluated_until=0)
    changes = 0
    for minute in range(0, 600, 10):
        score = 25.0 if (minute // 10) % 2 == 0 else 23.0
        before = state.level
        state = advance(state, minute, lambda _m, s=score: s, THRESHOLDS.level_for, CALM, explain)
        state = observe(state, minute, score, THRESHOLDS.level_for, explain)
        changes += state.level is not before
    assert changes == 1  # AMAN -> SIAGA once, never back


def test_multi_step_drop_goes_to_the_level_of_that_minute() -> None:
    score_at = decaying(0, 100.0, half_life=10)  # falls through every threshold quickly
    state = observe(LevelState(evaluated_until=0), 0, 100.0, THRESHOLDS.level_for, explain)
    state = advance(state, 500, score_at, THRESHOLDS.level_for, CALM, explain)
    assert state.level is StatusLevel.AMAN
    assert state.previous is StatusLevel.AWAS


@pytest.mark.parametrize("seed", range(5))
def test_looking_more_often_changes_nothing(seed: int) -> None:
    """advance(advance(s, t1), t2) == advance(s, t2): fast replay == real time."""
    rng = random.Random(seed)
    score_at = decaying(0, rng.uniform(30, 200), half_life=rng.uniform(20, 200))
    start = observe(LevelState(evaluated_until=0), 0, score_at(0), THRESHOLDS.level_for, explain)
    once = advance(start, 900, score_at, THRESHOLDS.level_for, CALM, explain)
    stepwise = start
    for minute in [*sorted(rng.sample(range(1, 900), 25)), 900]:
        stepwise = advance(stepwise, minute, score_at, THRESHOLDS.level_for, CALM, explain)
    assert stepwise == once


def test_round_trips_through_storage() -> None:
    state = LevelState(StatusLevel.SIAGA, StatusLevel.AWAS, 12, "why", 30, 40)
    assert LevelState.decode(state.encode()) == state
