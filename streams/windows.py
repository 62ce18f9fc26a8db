"""Minute buckets: the bounded, event-time memory of one area.

Every area keeps at most one bucket per minute of the retention period (the longest view that
reads them, 24 h by default, so at most 1,440 buckets whatever the report volume). A bucket
holds what happened in that minute by ``occurred_at``:

* report counts (incident reports by category, check-ins) for the sliding windows, and
* the open incidents whose latest report falls in that minute, as weight and counts. An
  incident moves between buckets when a newer report about it arrives, and leaves when resolved.

The score at minute ``t`` is ``sum(weight_b * decay(t - b))`` over the buckets: decay depends
only on the bucket's minute, which is what keeps it exact with minute buckets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.report import Category, ReportKind
from streams.scoring import ScoringConfig

__all__ = ["Bucket", "Buckets", "Contribution", "WindowCounts"]


@dataclass(slots=True)
class Bucket:
    reports: int = 0  # incident reports (first reports and follow-ups)
    check_ins: int = 0
    by_category: dict[str, int] = field(default_factory=dict)  # incident reports
    weight: float = 0.0  # open incidents placed in this minute, before decay
    open: int = 0
    open_by_category: dict[str, int] = field(default_factory=dict)
    open_by_severity: dict[str, int] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return self.reports == 0 and self.check_ins == 0 and self.open == 0

    def encode(self) -> list[Any]:
        return [
            self.reports,
            self.check_ins,
            self.by_category,
            self.weight,
            self.open,
            self.open_by_category,
            self.open_by_severity,
        ]

    @classmethod
    def decode(cls, data: list[Any]) -> Bucket:
        reports, check_ins, by_category, weight, open_, open_by_category, open_by_severity = data
        return cls(
            reports, check_ins, by_category, weight, open_, open_by_category, open_by_severity
        )


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one open incident adds to an area: weight at ``minute``, its category and severity."""

    minute: int
    weight: float
    category: str
    severity: int
    report_id: str


@dataclass(frozen=True, slots=True)
class WindowCounts:
    minutes: int
    reports: int
    check_ins: int
    by_category: Mapping[str, int]


def _bump(counts: dict[str, int], key: str, delta: int) -> None:
    value = counts.get(key, 0) + delta
    if value > 0:
        counts[key] = value
    else:
        counts.pop(key, None)


class Buckets:
    """The minute buckets of one area (a dict minute -> Bucket with the operations on it)."""

    __slots__ = ("_by_minute",)

    def __init__(self, by_minute: dict[int, Bucket] | None = None) -> None:
        self._by_minute: dict[int, Bucket] = by_minute if by_minute is not None else {}

    def __len__(self) -> int:
        return len(self._by_minute)

    def minutes(self) -> list[int]:
        return sorted(self._by_minute)

    def get(self, minute: int) -> Bucket | None:
        return self._by_minute.get(minute)

    def _bucket(self, minute: int) -> Bucket:
        bucket = self._by_minute.get(minute)
        if bucket is None:
            bucket = self._by_minute[minute] = Bucket()
        return bucket

    # --- changes ----------------------------------------------------------------------------

    def count_report(self, minute: int, kind: ReportKind, category: Category) -> None:
        bucket = self._bucket(minute)
        if kind is ReportKind.CHECK_IN:
            bucket.check_ins += 1
        else:
            bucket.reports += 1
            _bump(bucket.by_category, category.value, 1)

    def add(self, contribution: Contribution) -> None:
        bucket = self._bucket(contribution.minute)
        bucket.weight += contribution.weight
        bucket.open += 1
        _bump(bucket.open_by_category, contribution.category, 1)
        _bump(bucket.open_by_severity, str(contribution.severity), 1)

    def remove(self, contribution: Contribution) -> None:
        bucket = self._by_minute.get(contribution.minute)
        if bucket is None or bucket.open == 0:
            return  # already expired with its bucket
        bucket.open -= 1
        # Exactly zero when nothing is left, so float residue never keeps a level up.
        bucket.weight = max(0.0, bucket.weight - contribution.weight) if bucket.open else 0.0
        _bump(bucket.open_by_category, contribution.category, -1)
        _bump(bucket.open_by_severity, str(contribution.severity), -1)
        if bucket.is_empty():
            del self._by_minute[contribution.minute]

    def prune(self, now: int, retention_minutes: int) -> None:
        """Drop buckets no view reads any more (older than the retention period)."""
        oldest_kept = now - retention_minutes + 1
        for minute in [m for m in self._by_minute if m < oldest_kept]:
            del self._by_minute[minute]

    # --- views ------------------------------------------------------------------------------

    def score(self, now: int, config: ScoringConfig) -> float:
        """Sum of decayed open-incident weights at minute ``now`` (baseline not included)."""
        # fsum is exact whatever the order, so a state rebuilt after a restart (buckets in
        # another order) gives the very same float.
        table = config.decay_table
        window = len(table)
        return math.fsum(
            bucket.weight * table[now - minute]
            for minute, bucket in self._by_minute.items()
            if bucket.weight and 0 <= now - minute < window
        )

    def open_counts(
        self, now: int, window_minutes: int
    ) -> tuple[int, dict[str, int], dict[str, int]]:
        """Open incidents still inside the incident window: total, by category, by severity."""
        total, by_category, by_severity = 0, dict[str, int](), dict[str, int]()
        for minute, bucket in self._by_minute.items():
            if bucket.open and now - window_minutes < minute <= now:
                total += bucket.open
                for key, count in bucket.open_by_category.items():
                    by_category[key] = by_category.get(key, 0) + count
                for key, count in bucket.open_by_severity.items():
                    by_severity[key] = by_severity.get(key, 0) + count
        return total, by_category, by_severity

    def window(self, now: int, minutes: int) -> WindowCounts:
        """Reports that occurred in the ``minutes`` up to and including minute ``now``."""
        reports = check_ins = 0
        by_category: dict[str, int] = {}
        for minute, bucket in self._by_minute.items():
            if now - minutes < minute <= now:
                reports += bucket.reports
                check_ins += bucket.check_ins
                for key, count in bucket.by_category.items():
                    by_category[key] = by_category.get(key, 0) + count
        return WindowCounts(minutes, reports, check_ins, by_category)

    # --- storage ----------------------------------------------------------------------------

    def encode(self) -> dict[str, list[Any]]:
        return {str(minute): bucket.encode() for minute, bucket in self._by_minute.items()}

    @classmethod
    def decode(cls, data: Mapping[str, list[Any]]) -> Buckets:
        return cls({int(minute): Bucket.decode(value) for minute, value in data.items()})

    @classmethod
    def of(cls, items: Iterable[tuple[int, Bucket]]) -> Buckets:
        return cls(dict(items))
