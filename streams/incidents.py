"""Incident lifecycle: follow-up reports update one incident; its latest report decides.

An incident is identified within its regency (``district|incident_id``: reports are keyed and
partitioned by regency, so an incident's state lives next to the areas it counts in). Its
*effective state* is its latest report by ``(occurred_at, report_id)`` (so out-of-order
follow-ups land where they belong), with the kecamatan falling back to the incident's first
known kecamatan when the latest report names none.

The record also keeps the last few updates with the source offset that made them. After a crash
an area may be behind its incidents (state is written per key, and a restart can find one key
newer than another); replaying an offset then needs the incident's state just before and just
after that offset, which ``state_before``/``state_at`` give back from the history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

from schemas.report import Category, FieldReport, IncidentState
from streams import codec
from streams.scoring import ScoringConfig
from streams.timebase import minute_of_seconds
from streams.windows import Contribution

__all__ = ["HISTORY", "IncidentRecord", "IncidentView", "incident_key"]

HISTORY: Final = 32
"""Updates kept per incident for replays after a crash (far more than one commit interval has)."""


def incident_key(district: str, incident_id: str) -> str:
    return f"{district}|{incident_id}"


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident as one report (or the fold of several) shows it."""

    report_id: str  # the latest report
    occurred: float  # its occurred_at, epoch seconds
    category: str
    severity: int
    state: str
    own_subdistrict: str | None  # named by the latest report
    first_subdistrict: str | None  # named by the earliest report that names one
    first_order: tuple[float, str] | None  # (occurred, report_id) of that earliest report

    @classmethod
    def of(cls, report: FieldReport) -> IncidentView:
        occurred = report.occurred_at.timestamp()
        sub = report.subdistrict
        return cls(
            report.report_id,
            occurred,
            report.category.value,
            report.severity,
            report.incident_state.value,
            sub,
            sub,
            (occurred, report.report_id) if sub else None,
        )

    @property
    def order(self) -> tuple[float, str]:
        return (self.occurred, self.report_id)

    @property
    def subdistrict(self) -> str | None:
        """The kecamatan the incident counts in: the latest report's, else the first known."""
        return self.own_subdistrict or self.first_subdistrict

    def combine(self, other: IncidentView) -> IncidentView:
        """The fold of two views (associative and commutative: arrival order does not matter)."""
        newer = self if self.order >= other.order else other
        firsts = [v for v in (self, other) if v.first_order is not None]
        first = min(firsts, key=lambda v: v.first_order or (0.0, "")) if firsts else None
        return replace(
            newer,
            first_subdistrict=first.first_subdistrict if first else None,
            first_order=first.first_order if first else None,
        )

    def contribution(self, config: ScoringConfig) -> Contribution | None:
        """What this incident adds to its areas, or None when resolved / weightless."""
        state = IncidentState(self.state)
        weight = config.weight(Category(self.category), self.severity, state)
        if weight <= 0:
            return None
        minute = minute_of_seconds(self.occurred)
        return Contribution(minute, weight, self.category, self.severity, self.report_id)

    def encode(self) -> list[Any]:
        return [
            self.report_id,
            self.occurred,
            self.category,
            self.severity,
            self.state,
            self.own_subdistrict,
            self.first_subdistrict,
            list(self.first_order) if self.first_order else None,
        ]

    @classmethod
    def decode(cls, data: list[Any]) -> IncidentView:
        report_id, occurred, category, severity, state, own, first, first_order = data
        return cls(
            report_id,
            occurred,
            category,
            severity,
            state,
            own,
            first,
            (first_order[0], first_order[1]) if first_order else None,
        )


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """Stored per ``district|incident_id``."""

    district: str
    partition: int
    base: IncidentView | None  # fold of updates older than ``recent``
    recent: tuple[tuple[int, IncidentView], ...]  # (source offset, view), oldest first
    applied: int  # highest source offset folded in
    current: IncidentView | None = None  # fold of everything (kept, not recomputed)

    @classmethod
    def empty(cls, district: str, partition: int) -> IncidentRecord:
        return cls(district, partition, None, (), -1)

    def state_at(self, offset: int) -> IncidentView | None:
        """Effective state including every update up to and including ``offset``."""
        return self._fold(lambda update_offset: update_offset <= offset)

    def state_before(self, offset: int) -> IncidentView | None:
        return self._fold(lambda update_offset: update_offset < offset)

    def remembers(self, offset: int) -> bool:
        """Whether the history still tells the state just before ``offset``."""
        return self.base is None or (bool(self.recent) and self.recent[0][0] <= offset)

    @property
    def latest(self) -> IncidentView | None:
        return self.current

    def with_update(self, offset: int, view: IncidentView) -> IncidentRecord:
        recent = (*self.recent, (offset, view))
        base = self.base
        while len(recent) > HISTORY:
            (_, oldest), recent = recent[0], recent[1:]
            base = oldest if base is None else base.combine(oldest)
        current = view if self.current is None else self.current.combine(view)
        return IncidentRecord(self.district, self.partition, base, recent, offset, current)

    def _fold(self, include: Any) -> IncidentView | None:
        result = self.base
        for update_offset, view in self.recent:
            if include(update_offset):
                result = view if result is None else result.combine(view)
        return result

    def encode(self) -> bytes:
        # "partition,latest minute|" first, so the expiry sweep can skip the JSON.
        latest_minute = minute_of_seconds(self.current.occurred) if self.current else 0
        body = codec.dumps(
            {
                "d": self.district,
                "b": self.base.encode() if self.base else None,
                "r": [[offset, view.encode()] for offset, view in self.recent],
                "a": self.applied,
                "c": self.current.encode() if self.current else None,
            }
        )
        return f"{self.partition},{latest_minute}|".encode() + body

    @classmethod
    def decode(cls, raw: bytes) -> IncidentRecord:
        head, body = raw.split(b"|", 1)
        data = codec.loads(body)
        return cls(
            data["d"],
            int(head.split(b",")[0]),
            IncidentView.decode(data["b"]) if data["b"] else None,
            tuple((offset, IncidentView.decode(view)) for offset, view in data["r"]),
            data["a"],
            IncidentView.decode(data["c"]) if data["c"] else None,
        )

    @staticmethod
    def expiry_of(raw: bytes) -> tuple[int, int]:
        """(partition, minute of the latest report) without decoding the record."""
        partition, minute = raw.split(b"|", 1)[0].split(b",")
        return int(partition), int(minute)
