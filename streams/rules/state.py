"""What the rule engine stores per (rule, group): minute buckets and the alert's lifecycle.

Both are compact JSON. A group keeps at most one bucket per minute of its rule's retention
(see ``retention_minutes``) and at most ``EVIDENCE_CAP`` evidence entries, so its size is
bounded whatever the report volume.
"""

from __future__ import annotations

from bisect import insort
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

from schemas.alert import Alert, AlertState
from streams import codec

__all__ = [
    "EVIDENCE_CAP",
    "TIERS",
    "AlertSlot",
    "DecodedGroups",
    "Evidence",
    "GroupState",
    "store_key",
]

EVIDENCE_CAP: Final = 20
"""Report ids kept per group and carried in an alert (the newest by occurred_at)."""

TIERS: Final = 2
"""Bucket counters per minute: reports matching the warning tier, the critical tier."""
WARNING_BIT: Final = 1
CRITICAL_BIT: Final = 2


def store_key(rule_id: str, group_key: str) -> str:
    return f"{rule_id}|{group_key}"


@dataclass(frozen=True, slots=True)
class Evidence:
    minute: int
    report_id: str
    tiers: int  # bit mask: 1 warning, 2 critical
    value: float | None = None  # e.g. distance to the site
    label: str = ""  # e.g. the watch-list terms found

    def encode(self) -> list[Any]:
        return [self.minute, self.report_id, self.tiers, self.value, self.label]


def _minute(item: Evidence) -> int:
    return item.minute


@dataclass(slots=True)
class GroupState:
    """Per (rule, group): matching reports by minute, evidence, and the source offset applied."""

    area_code: str
    since: int  # stream minute the group was first watched
    applied: int = -1  # highest source offset applied (crash replay skips up to it)
    # minute -> [warning, critical], in minute order: ``encode`` writes them as they are.
    buckets: dict[int, list[int]] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)

    def add(self, item: Evidence) -> None:
        buckets, minute = self.buckets, item.minute
        counts = buckets.get(minute)
        # A minute before the newest one kept (a late report) takes its place in the order.
        late = counts is None and bool(buckets) and minute < next(reversed(buckets))
        warning, critical = (0, 0) if counts is None else counts
        # A new list rather than a change in place: copies share the lists (see ``copy``).
        buckets[minute] = [
            warning + (1 if item.tiers & WARNING_BIT else 0),
            critical + (1 if item.tiers & CRITICAL_BIT else 0),
        ]
        if late:
            self.buckets = dict(sorted(buckets.items()))
        # Kept in minute order; a new item goes after those of its minute (a stable sort).
        insort(self.evidence, item, key=_minute)
        del self.evidence[:-EVIDENCE_CAP]

    def copy(self) -> GroupState:
        """An independent copy (bucket lists are never changed in place, so they are shared)."""
        return GroupState(
            self.area_code, self.since, self.applied, dict(self.buckets), list(self.evidence)
        )

    def count(self, first: int, last: int, tier_index: int) -> int:
        """Reports matching a tier with minute in [first, last]."""
        return sum(c[tier_index] for m, c in self.buckets.items() if first <= m <= last)

    def evidence_in(self, first: int, last: int, tier_bits: int) -> list[Evidence]:
        return [e for e in self.evidence if first <= e.minute <= last and e.tiers & tier_bits]

    def last_minute(self, until: int) -> int | None:
        minutes = [m for m in self.buckets if m <= until]
        return max(minutes) if minutes else None

    def prune(self, oldest_kept: int) -> None:
        for minute in [m for m in self.buckets if m < oldest_kept]:
            del self.buckets[minute]
        self.evidence = [e for e in self.evidence if e.minute >= oldest_kept]

    def encode(self) -> bytes:
        data = {
            "area": self.area_code,
            "since": self.since,
            "applied": self.applied,
            "buckets": self.buckets,  # in minute order; the codec writes the keys as strings
            "evidence": [e.encode() for e in self.evidence],
        }
        return codec.dumps(data)

    @classmethod
    def decode(cls, raw: bytes) -> GroupState:
        data = codec.loads(raw)
        return cls(
            area_code=data["area"],
            since=int(data["since"]),
            applied=int(data["applied"]),
            # Written by ``encode`` above, so the JSON types are already right (and the lists
            # new): this runs for every group a batch touches, over up to a day of minutes.
            buckets={int(m): c for m, c in data["buckets"].items()},
            evidence=[Evidence(*e) for e in data["evidence"]],
        )


class DecodedGroups:
    """Group states decoded before, each with the bytes it was decoded from or encoded to.

    A group keeps up to a day of minute buckets (spike baselines, flatline windows), and
    decoding it for every batch that touches it was most of the rules' cost. A state is
    handed out only if the stored bytes are still the ones it belongs to, and always as a
    copy, so nothing a batch does to it (even one that fails half way) reaches the cache.
    Bounded by ``max_buckets`` over all states; the least recently used go first.
    """

    def __init__(self, max_buckets: int = 200_000) -> None:
        self.max_buckets = max_buckets
        self._states: OrderedDict[str, tuple[bytes, GroupState]] = OrderedDict()
        self._buckets = 0

    def decode(self, key: str, raw: bytes) -> GroupState:
        known = self._states.get(key)
        if known is not None and known[0] == raw:
            self._states.move_to_end(key)
            return known[1].copy()
        state = GroupState.decode(raw)
        self.remember(key, raw, state.copy())
        return state

    def remember(self, key: str, raw: bytes, state: GroupState) -> None:
        """``state`` is ``raw`` decoded, and nobody changes it any more."""
        self.forget(key)
        self._states[key] = (raw, state)
        self._buckets += len(state.buckets)
        while self._buckets > self.max_buckets and self._states:
            _, (_, oldest) = self._states.popitem(last=False)
            self._buckets -= len(oldest.buckets)

    def forget(self, key: str) -> None:
        known = self._states.pop(key, None)
        if known is not None:
            self._buckets -= len(known[1].buckets)

    def __len__(self) -> int:
        return len(self._states)


@dataclass(slots=True)
class AlertSlot:
    """Per (rule, group): the latest alert record and the lifecycle bookkeeping around it."""

    alert: Alert | None = None
    episode: int | None = None  # minute the current/last episode started
    clear_since: int | None = None  # minute the condition was first seen clear
    resolved_minute: int | None = None  # for realert throttling
    transitions: list[int] = field(default_factory=list)  # fire/resolve minutes (flapping)

    @property
    def active(self) -> bool:
        return self.alert is not None and self.alert.state is not AlertState.RESOLVED

    def encode(self) -> bytes:
        data = {
            "alert": None if self.alert is None else self.alert.model_dump(mode="json"),
            "episode": self.episode,
            "clear_since": self.clear_since,
            "resolved": self.resolved_minute,
            "transitions": self.transitions,
        }
        return codec.dumps(data)

    @classmethod
    def decode(cls, raw: bytes) -> AlertSlot:
        data = codec.loads(raw)
        alert = data["alert"]
        return cls(
            alert=None if alert is None else Alert.model_validate(alert),
            episode=data["episode"],
            clear_since=data["clear_since"],
            resolved_minute=data["resolved"],
            transitions=list(data["transitions"]),
        )
