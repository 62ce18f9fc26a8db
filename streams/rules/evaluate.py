"""The condition of each rule type over a group's minute buckets: pure functions.

Each returns a ``Measurement``: the highest tier whose condition holds (None: clear), the
value and threshold behind it, the window, the episode start and the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.alert import AlertTier
from schemas.status import AreaStatus, StatusLevel
from streams.rules.model import (
    FlatlineRule,
    FrequencyRule,
    KeywordRule,
    LevelRule,
    ProximityRule,
    SpikeRule,
)
from streams.rules.state import CRITICAL_BIT, WARNING_BIT, Evidence, GroupState
from streams.timebase import minute_of

__all__ = [
    "CountRule",
    "Measurement",
    "measure_count",
    "measure_flatline",
    "measure_level",
    "measure_spike",
    "tier_bit",
    "tier_index",
]

CountRule = FrequencyRule | KeywordRule | ProximityRule


def tier_index(tier: AlertTier) -> int:
    return 0 if tier is AlertTier.WARNING else 1


def tier_bit(tier: AlertTier) -> int:
    return WARNING_BIT if tier is AlertTier.WARNING else CRITICAL_BIT


@dataclass(frozen=True)
class Measurement:
    tier: AlertTier | None
    value: float | None = None
    threshold: float | None = None
    count: int | None = None
    window_minutes: int | None = None
    window_start: int | None = None  # minutes
    window_end: int | None = None
    episode: int | None = None  # minute the episode started (event time)
    evidence: tuple[str, ...] = ()
    late: bool = False
    extras: Mapping[str, tuple[str, str]] = field(default_factory=dict)


CLEAR = Measurement(tier=None)


def _count_threshold(rule: CountRule, tier: AlertTier) -> int:
    spec = rule.tiers.get(tier)
    assert spec is not None
    return spec.count


def _window(rule: CountRule) -> int:
    return rule.params.window


def _episode(rule: CountRule, first_minute: int) -> int:
    """Frequency: the window's first report; keyword/proximity: the window bucket it falls in."""
    if isinstance(rule, FrequencyRule):
        return first_minute
    size = _window(rule)
    return first_minute // size * size


def measure_count(
    rule: CountRule, state: GroupState, now: int, containing: int | None = None
) -> Measurement:
    """At least ``count`` matching reports within ``window`` (per tier).

    ``containing``: evaluate the fullest window that contains this minute (a report's), not
    the current one, so a late report that completes a window is found; it is ``late`` when
    the report lies before the current window.
    """
    window = _window(rule)
    for tier, _ in reversed(rule.tiers.items()):  # critical first
        index, bits = tier_index(tier), tier_bit(tier)
        threshold = _count_threshold(rule, tier)
        if containing is None:
            starts = [now - window + 1]
        else:
            starts = sorted(m for m in state.buckets if containing - window < m <= containing)
        best: tuple[int, int] | None = None
        for start in starts:
            total = state.count(start, start + window - 1, index)
            if best is None or total > best[0]:
                best = (total, start)
        if best is None or best[0] < threshold:
            continue
        total, start = best
        end = start + window - 1
        evidence = state.evidence_in(start, end, bits)
        first = min((e.minute for e in evidence), default=start)
        values = [e.value for e in evidence if e.value is not None]
        late = containing is not None and containing < now - window + 1
        labels = _labels(evidence)
        return Measurement(
            tier=tier,
            value=min(values) if values and isinstance(rule, ProximityRule) else float(total),
            threshold=float(threshold),
            count=total,
            window_minutes=window,
            window_start=start,
            window_end=min(end, max(now, containing or now)),
            episode=_episode(rule, first),
            evidence=tuple(e.report_id for e in evidence),
            late=late,
            extras={"terms": (labels, labels)} if labels else {},
        )
    return CLEAR


def _labels(evidence: list[Evidence]) -> str:
    seen: list[str] = []
    for item in evidence:
        for label in item.label.split(", "):
            if label and label not in seen:
                seen.append(label)
    return ", ".join(seen)


def measure_spike(rule: SpikeRule, state: GroupState, now: int) -> Measurement:
    """Reports in the current window against the baseline just before it, scaled to the window.

    Needs a full baseline of watching. An empty baseline counts as one report (so a burst
    after silence has a finite ratio).
    """
    p = rule.params
    if now - state.since + 1 < p.window + p.baseline:
        return CLEAR
    start = now - p.window + 1
    current = state.count(start, now, 0)
    baseline = state.count(start - p.baseline, start - 1, 0)
    expected = baseline * p.window / p.baseline
    if p.direction == "up":
        if current < p.min_count:
            return CLEAR
        ratio = current / max(expected, p.window / p.baseline)
        fired = [t for t, spec in rule.tiers.items() if ratio >= spec.ratio]
    else:
        if expected < p.min_count:
            return CLEAR
        ratio = current / expected
        fired = [t for t, spec in rule.tiers.items() if ratio <= spec.ratio]
    if not fired:
        return CLEAR
    tier = fired[-1]
    spec = rule.tiers.get(tier)
    assert spec is not None
    evidence = state.evidence_in(start, now, WARNING_BIT)
    direction = ("naik", "up") if p.direction == "up" else ("turun", "down")
    expected_text = f"{expected:.1f}"
    return Measurement(
        tier=tier,
        value=round(ratio, 3),
        threshold=spec.ratio,
        count=current,
        window_minutes=p.window,
        window_start=start,
        window_end=now,
        episode=start,
        evidence=tuple(e.report_id for e in evidence),
        extras={
            "ratio": (f"{ratio:.1f}", f"{ratio:.1f}"),
            "baseline": (str(baseline), str(baseline)),
            "expected": (expected_text, expected_text),
            "direction": direction,
        },
    )


def measure_flatline(rule: FlatlineRule, state: GroupState, now: int) -> Measurement:
    """Fewer than ``min_count`` matching reports in the tier's window, after a full window of
    watching (an area that never reported is watched from when it was first expected)."""
    for tier, spec in reversed(rule.tiers.items()):
        window = rule.tier_window(spec)
        if now - state.since + 1 < window:
            continue
        start = now - window + 1
        total = state.count(start, now, 0)
        if total >= spec.min_count:
            continue
        last = state.last_minute(now)
        silent_since = state.since if last is None else max(state.since, last + 1)
        evidence = state.evidence_in(start, now, WARNING_BIT)
        return Measurement(
            tier=tier,
            value=float(total),
            threshold=float(spec.min_count),
            count=total,
            window_minutes=window,
            window_start=start,
            window_end=now,
            episode=silent_since,
            evidence=tuple(e.report_id for e in evidence),
        )
    return CLEAR


def _reached(level: StatusLevel, threshold: StatusLevel) -> bool:
    if threshold is StatusLevel.TIDAK_ADA_KABAR or level is StatusLevel.TIDAK_ADA_KABAR:
        return level is threshold
    rank, needed = level.rank, threshold.rank
    return rank is not None and needed is not None and rank >= needed


def _rose(status: AreaStatus) -> bool:
    previous = status.previous_level
    if previous is None or previous is status.level:
        return False
    if previous.rank is None or status.level.rank is None:
        return True
    return status.level.rank > previous.rank


def measure_level(
    rule: LevelRule, status: AreaStatus, now: int, already_firing: bool
) -> Measurement:
    """The status level reached a tier's level (with ``escalation``: by rising to it)."""
    if rule.params.escalation and not already_firing and not _rose(status):
        return CLEAR
    for tier, spec in reversed(rule.tiers.items()):
        if not _reached(status.level, spec.level):
            continue
        previous = status.previous_level
        level_en = f"{status.level.value} ({status.level.description_en})"
        return Measurement(
            tier=tier,
            value=None if status.level.rank is None else float(status.level.rank),
            threshold=None if spec.level.rank is None else float(spec.level.rank),
            episode=minute_of(status.level_changed_at),
            window_end=now,
            evidence=tuple(r.report_id for r in status.top_reports),
            extras={
                "level": (status.level.value, level_en),
                "previous_level": (
                    previous.value if previous else "-",
                    previous.value if previous else "-",
                ),
            },
        )
    return CLEAR
