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
import operator
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, cast

import orjson

from schemas.report import Category, ReportKind
from streams import codec
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


def _piece(minute: int, encoded: list[Any]) -> bytes:
    """One bucket inside the area's stored JSON: ``"minute":[...]``."""
    return b'"%d":%b' % (minute, codec.dumps(encoded))


def _decode_piece(piece: bytes) -> Bucket:
    return Bucket.decode(codec.loads(piece[piece.index(b":") + 1 :]))


def exact_terms(values: list[float]) -> list[float]:
    """A few floats whose exact sum is the exact sum of ``values``, the rounded sum first.

    ``math.fsum`` of them is therefore ``math.fsum(values)``, bit for bit, and a change to one
    of the values can be added to them as two more terms (the old value negated, the new one).
    """
    terms: list[float] = []
    rest = list(values)
    while (total := math.fsum(rest)) != 0.0:
        terms.append(total)
        rest.append(-total)
    return terms


class Buckets:
    """The minute buckets of one area (a dict minute -> Bucket with the operations on it).

    Each bucket's JSON is kept until the bucket changes: an area is stored after every batch
    that touches it, and after a day it holds some 1,400 buckets of which a batch changes one
    or two (encoding all of them again was most of the engine's time). A bucket that has its
    JSON is kept as that JSON alone and decoded when it is read or changed: decoded, the
    buckets of a day took about 870 bytes each in the worker, as JSON about 200.

    The score is asked for several times per event, mostly at the minute of the last one: from
    the second time at a minute on, it is kept as exact terms (``exact_terms``) that each
    weight change adds to, instead of summing up to a day of weighted minutes again.

    The open-incident counts of all buckets are kept as running sums, so a status (rendered
    several times a second per busy area) takes off only the few buckets outside its window
    instead of adding up a day of buckets.
    """

    __slots__ = (
        "_by_minute",
        "_changed",
        "_json",
        "_oldest",
        "_open_by_category",
        "_open_by_severity",
        "_open_minutes",
        "_open_total",
        "_score_minute",
        "_score_table",
        "_score_terms",
        "_weighted_minutes",
        "_weights",
    )

    def __init__(self, by_minute: dict[int, Bucket] | None = None) -> None:
        # In the order stored. None: the bucket is its JSON alone (in ``_json``); a Bucket has
        # changed since it was last encoded, and has no JSON.
        self._by_minute: dict[int, Bucket | None] = dict(by_minute) if by_minute else {}
        self._json: dict[int, bytes] = {}  # minute -> '"minute":[...]' of unchanged buckets
        self._changed: set[int] = set(self._by_minute)  # the minutes with a Bucket
        # At most the oldest bucket's minute (a removed bucket may leave it lower; None: work
        # it out): lets ``prune`` see at a glance that nothing is old enough to drop.
        self._oldest = min(self._by_minute, default=None)
        # The buckets with a weight, in minute order, for ``score``: it runs several times per
        # event and reads a contiguous range of them.
        decoded = cast(dict[int, Bucket], self._by_minute)  # all decoded so far
        weighted = sorted((m, b.weight) for m, b in decoded.items() if b.weight)
        self._weighted_minutes: list[int] = [minute for minute, _ in weighted]
        self._weights: list[float] = [weight for _, weight in weighted]
        # The score at ``_score_minute`` as exact terms (None: not kept), with the decay table
        # it was worked out with.
        self._score_minute: int | None = None
        self._score_table: tuple[float, ...] = ()
        self._score_terms: list[float] | None = None
        # Running sums of the open counts of every bucket, and the minutes with any open.
        self._open_minutes: list[int] = sorted(m for m, b in decoded.items() if b.open)
        self._open_total = 0
        self._open_by_category: dict[str, int] = {}
        self._open_by_severity: dict[str, int] = {}
        for minute in self._open_minutes:
            self._count_open(decoded[minute], 1)

    def _count_open(self, bucket: Bucket, sign: int) -> None:
        """Add (1) or take away (-1) all of a bucket's open counts in the running sums."""
        self._open_total += sign * bucket.open
        for key, count in bucket.open_by_category.items():
            _bump(self._open_by_category, key, sign * count)
        for key, count in bucket.open_by_severity.items():
            _bump(self._open_by_severity, key, sign * count)

    def __len__(self) -> int:
        return len(self._by_minute)

    def minutes(self) -> list[int]:
        return sorted(self._by_minute)

    def get(self, minute: int) -> Bucket | None:
        """The bucket of ``minute`` to read (a copy decoded from its JSON: changes are lost)."""
        bucket = self._by_minute.get(minute)
        if bucket is None and minute in self._by_minute:
            return _decode_piece(self._json[minute])
        return bucket

    def _bucket(self, minute: int) -> Bucket:
        """The bucket of ``minute`` (created if need be), about to be changed."""
        bucket = self._by_minute.get(minute)
        if bucket is None:
            piece = self._json.pop(minute, None)
            if piece is not None:
                bucket = _decode_piece(piece)
            else:
                bucket = Bucket()
                if self._oldest is not None and minute < self._oldest:
                    self._oldest = minute
            self._by_minute[minute] = bucket
            self._changed.add(minute)
        return bucket

    # --- changes ----------------------------------------------------------------------------

    def count_report(self, minute: int, kind: ReportKind, category: Category) -> None:
        bucket = self._bucket(minute)
        if kind is ReportKind.CHECK_IN:
            bucket.check_ins += 1
        else:
            bucket.reports += 1
            _bump(bucket.by_category, category.value, 1)

    def _note_weight(self, minute: int, weight: float) -> None:
        """Keep the weighted-minutes index in step with the bucket of ``minute``."""
        minutes = self._weighted_minutes
        index = bisect_left(minutes, minute)
        present = index < len(minutes) and minutes[index] == minute
        terms = self._score_terms
        if terms is not None:
            age = self._score_minute - minute  # type: ignore[operator]
            if 0 <= age < len(self._score_table):
                # Exact: the products the full sum would take, the old one taken back.
                decay = self._score_table[age]
                if present:
                    terms.append(-(self._weights[index] * decay))
                if weight:
                    terms.append(weight * decay)
                if len(terms) > 256:  # changes with no score asked in between
                    self._score_terms = exact_terms(terms)
        if weight:
            if present:
                self._weights[index] = weight
            else:
                minutes.insert(index, minute)
                self._weights.insert(index, weight)
        elif present:
            del minutes[index]
            del self._weights[index]

    def add(self, contribution: Contribution) -> None:
        bucket = self._bucket(contribution.minute)
        bucket.weight += contribution.weight
        self._note_weight(contribution.minute, bucket.weight)
        if not bucket.open:
            insort(self._open_minutes, contribution.minute)
        bucket.open += 1
        self._open_total += 1
        severity = str(contribution.severity)
        _bump(bucket.open_by_category, contribution.category, 1)
        _bump(bucket.open_by_severity, severity, 1)
        _bump(self._open_by_category, contribution.category, 1)
        _bump(self._open_by_severity, severity, 1)

    def remove(self, contribution: Contribution) -> None:
        stored = self.get(contribution.minute)
        if stored is None or stored.open == 0:
            return  # already expired with its bucket
        bucket = self._bucket(contribution.minute)
        self._count_open(bucket, -1)
        bucket.open -= 1
        # Exactly zero when nothing is left, so float residue never keeps a level up.
        bucket.weight = max(0.0, bucket.weight - contribution.weight) if bucket.open else 0.0
        self._note_weight(contribution.minute, bucket.weight)
        _bump(bucket.open_by_category, contribution.category, -1)
        _bump(bucket.open_by_severity, str(contribution.severity), -1)
        self._count_open(bucket, 1)
        if not bucket.open:
            del self._open_minutes[bisect_left(self._open_minutes, contribution.minute)]
        if bucket.is_empty():
            del self._by_minute[contribution.minute]
            self._changed.discard(contribution.minute)

    def prune(self, now: int, retention_minutes: int) -> None:
        """Drop buckets no view reads any more (older than the retention period)."""
        oldest_kept = now - retention_minutes + 1
        if self._oldest is None:
            self._oldest = min(self._by_minute, default=None)
        if self._oldest is None or self._oldest >= oldest_kept:
            return  # runs for every event: most find nothing to drop
        # Only the dropped buckets with open incidents are read (for the running sums).
        open_cut = bisect_left(self._open_minutes, oldest_kept)
        for minute in self._open_minutes[:open_cut]:
            self._count_open(cast(Bucket, self.get(minute)), -1)
        del self._open_minutes[:open_cut]
        for minute in [m for m in self._by_minute if m < oldest_kept]:
            del self._by_minute[minute]
            self._json.pop(minute, None)
            self._changed.discard(minute)
        self._oldest = min(self._by_minute, default=None)
        cut = bisect_left(self._weighted_minutes, oldest_kept)
        if cut:
            self._score_terms = None  # they may have been inside the score's window
        del self._weighted_minutes[:cut]
        del self._weights[:cut]

    # --- views ------------------------------------------------------------------------------

    def score(self, now: int, config: ScoringConfig) -> float:
        """Sum of decayed open-incident weights at minute ``now`` (baseline not included)."""
        # fsum is exact whatever the order, so a state rebuilt after a restart (buckets in
        # another order) gives the very same float.
        table = config.decay_table
        terms = self._score_terms
        if terms is not None and now == self._score_minute and table is self._score_table:
            if len(terms) > 64:
                terms = self._score_terms = exact_terms(terms)
            return math.fsum(terms)
        minutes = self._weighted_minutes
        first = bisect_left(minutes, now - len(table) + 1)  # inside the incident window
        last = bisect_right(minutes, now)
        # weight * decay(now - minute) for each, iterated in C (map) rather than in Python.
        ages = map(operator.sub, repeat(now, last - first), minutes[first:last])
        decays = map(table.__getitem__, ages)
        products = list(map(operator.mul, self._weights[first:last], decays))
        if now == self._score_minute and table is self._score_table:
            # The second time at this minute: more are likely (each event of the minute).
            self._score_terms = exact_terms(products)
            return math.fsum(self._score_terms)
        self._score_minute, self._score_table, self._score_terms = now, table, None
        return math.fsum(products)

    def open_counts(
        self, now: int, window_minutes: int
    ) -> tuple[int, dict[str, int], dict[str, int]]:
        """Open incidents still inside the incident window: total, by category, by severity.

        The running sums less the buckets outside the window (not pruned yet, or ahead of
        ``now``); counts that come to nothing are left out.
        """
        minutes = self._open_minutes
        first = bisect_right(minutes, now - window_minutes)
        last = bisect_right(minutes, now)
        total = self._open_total
        by_category, by_severity = dict(self._open_by_category), dict(self._open_by_severity)
        for minute in minutes[:first] + minutes[last:]:
            bucket = cast(Bucket, self.get(minute))
            total -= bucket.open
            for key, count in bucket.open_by_category.items():
                _bump(by_category, key, -count)
            for key, count in bucket.open_by_severity.items():
                _bump(by_severity, key, -count)
        return total, by_category, by_severity

    def window(self, now: int, minutes: int) -> WindowCounts:
        """Reports that occurred in the ``minutes`` up to and including minute ``now``."""
        reports = check_ins = 0
        by_category: dict[str, int] = {}
        for minute in self._by_minute:
            if now - minutes < minute <= now:
                bucket = cast(Bucket, self.get(minute))
                reports += bucket.reports
                check_ins += bucket.check_ins
                for key, count in bucket.by_category.items():
                    by_category[key] = by_category.get(key, 0) + count
        return WindowCounts(minutes, reports, check_ins, by_category)

    # --- storage ----------------------------------------------------------------------------

    def encode(self) -> dict[str, list[Any]]:
        return {str(minute): cast(Bucket, self.get(minute)).encode() for minute in self._by_minute}

    def encode_json(self) -> orjson.Fragment:
        """``encode()`` as JSON (the same bytes ``codec.dumps`` makes of it), to embed in the
        area's value; only the buckets changed since the last call are encoded, and from then
        on kept as that JSON alone."""
        pieces, buckets = self._json, self._by_minute
        for minute in self._changed:
            pieces[minute] = _piece(minute, cast(Bucket, buckets[minute]).encode())
            buckets[minute] = None
        self._changed.clear()
        return orjson.Fragment(b"{" + b",".join(map(pieces.__getitem__, buckets)) + b"}")

    @classmethod
    def decode(cls, data: Mapping[str, list[Any]]) -> Buckets:
        minutes = [int(minute) for minute in data]
        values = list(data.values())
        buckets = cls(dict(zip(minutes, map(Bucket.decode, values), strict=True)))
        # Kept as JSON from the start: the same bytes the first ``encode_json`` would make.
        buckets._json = dict(zip(minutes, map(_piece, minutes, values), strict=True))
        buckets._by_minute = dict.fromkeys(minutes)
        buckets._changed = set()
        return buckets

    @classmethod
    def of(cls, items: Iterable[tuple[int, Bucket]]) -> Buckets:
        return cls(dict(items))
