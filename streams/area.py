"""The state of one area (regency or kecamatan) and how one event changes it.

Everything here is plain Python on a working copy: the Faust adapter loads an ``AreaState``,
the engine applies events to it in source-offset order and the adapter stores it back. Each
state remembers the highest source offset it has applied (``watermark``), so an event replayed
after a crash changes it at most once.

Time: each area moves on its own clock, the latest ``occurred_at`` minute it has seen. Decisions
taken while applying an event (placing it, rising or starting the calm period) depend only on
this area's state and the event, never on other areas or the wall clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from schemas.report import FieldReport, ReportKind
from schemas.status import StatusLevel
from streams import codec
from streams.hysteresis import LevelChange, LevelState, advance, observe
from streams.scoring import AreaType, ScoringConfig
from streams.timebase import at_minute, minute_of_seconds
from streams.windows import Buckets, Contribution

__all__ = ["AreaState", "Candidate", "Resumed"]


@dataclass(frozen=True, slots=True)
class Resumed:
    """Contact came back after a silence: shown as the change from TIDAK ADA KABAR."""

    minute: int  # occurred_at minute of the report that ended the silence
    silent_since: int  # minute the silence had started (last contact + interval)
    report_id: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """An open incident that may be among the top contributors."""

    report_id: str
    weight: float
    minute: int

    def rank(self, half_life: float) -> float:
        # Exponential decay keeps this order fixed over time: no re-sorting as minutes pass.
        return math.log2(self.weight) + self.minute / half_life

    def at(self, now: int, config: ScoringConfig) -> float:
        return self.weight * config.decay(now - self.minute)


@dataclass(slots=True)
class AreaState:
    code: str
    area_type: AreaType
    partition: int
    created: int  # minute of the first event the area saw
    watermark: int = -1  # highest source offset applied
    clock: int | None = None  # latest occurred_at minute applied
    buckets: Buckets = field(default_factory=Buckets)
    level: LevelState = field(default_factory=LevelState)
    last_report_at: float | None = None  # incident reports, epoch seconds (event time)
    last_check_in_at: float | None = None
    last_received_at: float | None = None
    resumed: Resumed | None = None
    top: dict[str, Candidate] = field(default_factory=dict)  # incident key -> candidate
    reports: int = 0  # reports applied (incl. check-ins), for the web view

    @classmethod
    def new(cls, code: str, area_type: AreaType, partition: int, minute: int) -> AreaState:
        return cls(code, area_type, partition, created=minute)

    # --- reading ----------------------------------------------------------------------------

    @property
    def last_contact(self) -> float | None:
        times = [t for t in (self.last_report_at, self.last_check_in_at) if t is not None]
        return max(times) if times else None

    def score_at(self, minute: int, config: ScoringConfig) -> float:
        return config.baseline(self.code) + self.buckets.score(minute, config)

    def level_for(self, config: ScoringConfig) -> Callable[[float], StatusLevel]:
        thresholds = config.thresholds.of(self.area_type)
        return thresholds.level_for

    def advanced(self, until: int, config: ScoringConfig, zone: tzinfo) -> LevelState:
        """The level at minute ``until`` if nothing else happens (pure: state unchanged)."""
        return advance(
            self.level,
            until,
            lambda minute: self.score_at(minute, config),
            self.level_for(config),
            config.calm_minutes,
            self._explainer(config, zone),
        )

    # --- applying one event -----------------------------------------------------------------

    def begin(self, minute: int, config: ScoringConfig, zone: tzinfo) -> None:
        """Move the area's clock to an event's minute (if later), settling the time between."""
        now = minute if self.clock is None else max(self.clock, minute)
        if self.level.evaluated_until is None:
            self.level = LevelState(evaluated_until=now, changed_at=self.created)
        self.level = self.advanced(now, config, zone)
        self.clock = now
        self.buckets.prune(now, config.retention_minutes)

    def count_report(self, report: FieldReport, config: ScoringConfig, origin: int | None) -> None:
        """Count the report in its minute and note the contact (and a silence it ends)."""
        occurred = report.occurred_at.timestamp()
        minute = minute_of_seconds(occurred)
        assert self.clock is not None, "begin() first"
        if minute > self.clock - config.retention_minutes:
            self.buckets.count_report(minute, report.kind, report.category)
        previous_contact = self.last_contact
        reference = minute_of_seconds(previous_contact) if previous_contact is not None else origin
        silence = config.silence_minutes.of(self.area_type)
        if (
            (previous_contact is None or occurred > previous_contact)
            and reference is not None
            and minute - reference > silence
        ):
            self.resumed = Resumed(minute, reference + silence, report.report_id)
        if report.kind is ReportKind.CHECK_IN:
            self.last_check_in_at = _later(self.last_check_in_at, occurred)
        else:
            self.last_report_at = _later(self.last_report_at, occurred)
        self.last_received_at = _later(self.last_received_at, report.received_at.timestamp())
        self.reports += 1

    def change_incident(
        self,
        key: str,
        before: Contribution | None,
        after: Contribution | None,
        config: ScoringConfig,
    ) -> None:
        """Replace what an incident contributes to this area."""
        if before is not None:
            self.buckets.remove(before)
            self.top.pop(key, None)
        assert self.clock is not None, "begin() first"
        if after is not None and after.minute > self.clock - config.retention_minutes:
            self.buckets.add(after)
            self._keep_candidate(
                key, Candidate(after.report_id, after.weight, after.minute), config
            )

    def finish(self, offset: int, config: ScoringConfig, zone: tzinfo) -> None:
        """Settle the level after the event at ``offset`` and remember it was applied."""
        assert self.clock is not None, "begin() first"
        score = self.score_at(self.clock, config)
        self.level = observe(
            self.level, self.clock, score, self.level_for(config), self._explainer(config, zone)
        )
        self.watermark = offset

    # --- top contributors ---------------------------------------------------------------------

    def _keep_candidate(self, key: str, candidate: Candidate, config: ScoringConfig) -> None:
        self.top[key] = candidate
        cap = max(20, 4 * config.top_reports)
        if len(self.top) > cap:
            half_life = config.decay_half_life_minutes
            _, weakest = min((c.rank(half_life), k) for k, c in self.top.items())
            del self.top[weakest]

    def top_contributors(self, now: int, config: ScoringConfig) -> list[tuple[str, float]]:
        """(report_id, contribution at ``now``), largest first, still inside the window."""
        ranked = [
            (candidate.report_id, candidate.at(now, config))
            for candidate in self.top.values()
            if candidate.minute <= now
        ]
        ranked = [(report_id, share) for report_id, share in ranked if share > 0]
        ranked.sort(key=lambda item: (-item[1], item[0]))
        return ranked[: config.top_reports]

    # --- reasons ----------------------------------------------------------------------------

    def _explainer(self, config: ScoringConfig, zone: tzinfo) -> Callable[[LevelChange], str]:
        def explain(change: LevelChange) -> str:
            return explain_change(change, self, config, zone)

        return explain

    # --- storage ----------------------------------------------------------------------------

    def encode(self) -> bytes:
        return codec.dumps(
            {
                "c": self.code,
                "t": self.area_type,
                "p": self.partition,
                "n": self.created,
                "w": self.watermark,
                "k": self.clock,
                "b": self.buckets.encode_json(),
                "l": self.level.encode(),
                "lr": self.last_report_at,
                "lc": self.last_check_in_at,
                "rx": self.last_received_at,
                "rs": (
                    [self.resumed.minute, self.resumed.silent_since, self.resumed.report_id]
                    if self.resumed
                    else None
                ),
                "top": {k: [c.report_id, c.weight, c.minute] for k, c in self.top.items()},
                "r": self.reports,
            },
        )

    @classmethod
    def decode(cls, raw: bytes) -> AreaState:
        data: dict[str, Any] = codec.loads(raw)
        resumed = data["rs"]
        return cls(
            code=data["c"],
            area_type=data["t"],
            partition=data["p"],
            created=data["n"],
            watermark=data["w"],
            clock=data["k"],
            buckets=Buckets.decode(data["b"]),
            level=LevelState.decode(data["l"]),
            last_report_at=data["lr"],
            last_check_in_at=data["lc"],
            last_received_at=data["rx"],
            resumed=Resumed(resumed[0], resumed[1], resumed[2]) if resumed else None,
            top={k: Candidate(v[0], v[1], v[2]) for k, v in data["top"].items()},
            reports=data["r"],
        )


def _later(current: float | None, candidate: float) -> float:
    return candidate if current is None or candidate > current else current


def explain_change(
    change: LevelChange, area: AreaState, config: ScoringConfig, zone: tzinfo
) -> str:
    """Why the level changed, in Indonesian, with the numbers an analyst can check."""
    thresholds = config.thresholds.of(area.area_type)
    if change.rising:
        threshold = thresholds.of(change.level)
        text = (
            f"Skor {change.score:.1f} mencapai ambang {change.level.value} ({threshold:g}); "
            f"naik dari {change.previous.value}"
        )
        top = area.top_contributors(change.minute, config)
        if top:
            listed = ", ".join(f"{report_id} ({share:.1f})" for report_id, share in top[:3])
            text += f". Kontributor utama: {listed}"
        return text
    threshold = thresholds.of(change.previous)
    since = at_minute(change.below_since if change.below_since is not None else change.minute)
    return (
        f"Skor {change.score:.1f} di bawah ambang {change.previous.value} ({threshold:g}) "
        f"selama {config.calm_minutes} menit sejak {since.astimezone(zone):%d-%m %H:%M %Z}; "
        f"turun ke {change.level.value}"
    )
