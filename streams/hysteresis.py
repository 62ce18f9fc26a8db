"""Level with hysteresis: up at once, down only after the score stayed low for a calm period.

Two pure steps, both on whole minutes of event time:

* ``observe`` runs right after an event changed the area: the level rises at once when the
  score reaches a higher threshold; a score below the current level starts (or keeps) the calm
  period's clock ``below_since``.
* ``advance`` moves the level through a stretch of time *without events*. In such a stretch the
  score can only fall (decay, incidents leaving the window), so the first minute below the
  threshold is found by bisection and the drop happens exactly ``calm`` minutes later, whatever
  the times at which the area happens to be looked at. That is what makes a fast replay, a
  real-time run and a restarted run agree: ``advance(advance(s, t1), t2) == advance(s, t2)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.status import StatusLevel

__all__ = ["LevelChange", "LevelState", "advance", "observe"]

ScoreAt = Callable[[int], float]
LevelFor = Callable[[float], StatusLevel]
Explain = Callable[["LevelChange"], str]


def _rank(level: StatusLevel) -> int:
    rank = level.rank
    assert rank is not None, "hysteresis works on the ranked levels only"
    return rank


@dataclass(frozen=True, slots=True)
class LevelChange:
    """A level change, with the facts a reason is written from."""

    level: StatusLevel
    previous: StatusLevel
    minute: int
    score: float
    rising: bool
    below_since: int | None = None  # for a drop: when the score fell below the old level


@dataclass(frozen=True, slots=True)
class LevelState:
    level: StatusLevel = StatusLevel.AMAN
    previous: StatusLevel | None = None
    changed_at: int | None = None  # minute of the last change (None: never changed)
    reason: str = ""
    below_since: int | None = None  # first minute the score was below the current level
    evaluated_until: int | None = None  # minute up to which the level is known

    def calm(self, below_since: int | None, evaluated_until: int | None) -> LevelState:
        """The same level with new calm bookkeeping (``dataclasses.replace`` is several times
        slower, and this runs for every event)."""
        return LevelState(
            self.level, self.previous, self.changed_at, self.reason, below_since, evaluated_until
        )

    def encode(self) -> list[Any]:
        return [
            self.level.value,
            self.previous.value if self.previous else None,
            self.changed_at,
            self.reason,
            self.below_since,
            self.evaluated_until,
        ]

    @classmethod
    def decode(cls, data: list[Any]) -> LevelState:
        level, previous, changed_at, reason, below_since, evaluated_until = data
        return cls(
            StatusLevel(level),
            StatusLevel(previous) if previous else None,
            changed_at,
            str(reason),
            below_since,
            evaluated_until,
        )


def observe(
    state: LevelState,
    now: int,
    score: float,
    level_for: LevelFor,
    explain: Explain,
) -> LevelState:
    """The level right after an event at minute ``now`` left the area with ``score``."""
    raw = level_for(score)
    if _rank(raw) > _rank(state.level):
        change = LevelChange(raw, state.level, now, score, rising=True)
        return LevelState(raw, state.level, now, explain(change), None, now)
    if raw is state.level:
        return state.calm(None, now)
    below_since = state.below_since if state.below_since is not None else now
    return state.calm(below_since, now)


def advance(
    state: LevelState,
    until: int,
    score_at: ScoreAt,
    level_for: LevelFor,
    calm_minutes: int,
    explain: Explain,
) -> LevelState:
    """The level at minute ``until`` when nothing happened after ``state.evaluated_until``."""
    start = state.evaluated_until
    if start is None or until <= start:
        return state
    current = state
    lower = start  # minutes after this one are still to be looked at
    while current.level is not StatusLevel.AMAN:
        if current.below_since is None:
            if _rank(level_for(score_at(until))) >= _rank(current.level):
                break
            first = _first_minute_below(current.level, lower, until, score_at, level_for)
            current = current.calm(first, current.evaluated_until)
        assert current.below_since is not None
        drop_at = current.below_since + calm_minutes
        if drop_at > until:
            break
        drop_at = max(drop_at, lower)
        score = score_at(drop_at)
        new_level = level_for(score)
        change = LevelChange(
            new_level, current.level, drop_at, score, rising=False, below_since=current.below_since
        )
        current = LevelState(new_level, current.level, drop_at, explain(change), None, drop_at)
        lower = drop_at
    return current.calm(current.below_since, until)


def _first_minute_below(
    level: StatusLevel, lower: int, upper: int, score_at: ScoreAt, level_for: LevelFor
) -> int:
    """Smallest minute in (lower, upper] whose level is below ``level``; upper's is."""
    threshold_rank = _rank(level)
    low, high = lower + 1, upper
    while low < high:
        middle = (low + high) // 2
        if _rank(level_for(score_at(middle))) < threshold_rank:
            high = middle
        else:
            low = middle + 1
    return low
