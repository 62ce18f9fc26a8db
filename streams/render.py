"""From state to the published ``AreaStatus``: pure functions of the state and a clock.

Rendering never changes state. The level shown is the hysteresis level moved to ``now``
(``AreaState.advanced``), overlaid with TIDAK ADA KABAR when the area's last contact is older
than its interval; so a status looked at twice with the same clock is the same status, which
is what lets a restarted worker send exactly what an uninterrupted one would.

The province is a roll-up of its regencies' published statuses: the highest level among the
regencies in contact (TIDAK ADA KABAR only when none is), the sums of scores and counts, and the
strongest contributors overall.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from schemas.registry import Area, AreaLevel
from schemas.report import Category
from schemas.status import AreaStatus, StatusLevel, TopReport
from streams.area import AreaState
from streams.hysteresis import LevelState
from streams.scoring import ScoringConfig
from streams.timebase import at_minute, at_second, minute_of_seconds
from streams.windows import WindowCounts

__all__ = [
    "ProvinceState",
    "comparable",
    "render_area",
    "render_province",
    "status_bytes",
    "windows_of",
]

_AREA_LEVELS = {"regency": AreaLevel.REGENCY, "district": AreaLevel.DISTRICT}


def _hours(minutes: int) -> str:
    return f"{minutes // 60} jam" if minutes % 60 == 0 else f"{minutes} menit"


def render_area(
    state: AreaState,
    area: Area,
    now: int,
    config: ScoringConfig,
    zone: tzinfo,
    updated_at: datetime,
    origin: int | None = None,
) -> AreaStatus:
    """The status of an area at minute ``now``; ``origin``: when watching began, for areas
    that never reported (silence is counted from there)."""
    if state.level.evaluated_until is None:
        level = LevelState(evaluated_until=now, changed_at=state.created)
    else:
        level = state.advanced(max(now, state.level.evaluated_until), config, zone)
    score = state.score_at(now, config)
    open_total, by_category, by_severity = state.buckets.open_counts(
        now, config.incident_window_minutes
    )
    contact = state.last_contact
    reference = minute_of_seconds(contact) if contact is not None else (origin or state.created)
    silence = config.silence_minutes.of(state.area_type)

    shown, previous = level.level, level.previous
    changed_at = level.changed_at if level.changed_at is not None else state.created
    reason = level.reason or "Status awal: belum ada insiden terbuka di atas ambang"
    if now - reference > silence:
        shown, previous = StatusLevel.TIDAK_ADA_KABAR, level.level
        changed_at = reference + silence
        last = at_minute(reference, zone)
        what = "laporan maupun check-in" if contact is not None else "laporan sejak pemantauan"
        reason = (
            f"Tidak ada {what} sejak {last:%d-%m %H:%M %Z}; batas {_hours(silence)} "
            f"(tingkat terakhir {level.level.value})"
        )
    elif state.resumed is not None and state.resumed.minute >= changed_at:
        resumed = state.resumed
        shown, previous, changed_at = level.level, StatusLevel.TIDAK_ADA_KABAR, resumed.minute
        gap = resumed.minute - resumed.silent_since + silence
        reason = (
            f"Kontak pulih: laporan {resumed.report_id} setelah {_hours(gap)} tanpa kabar; "
            f"tingkat {level.level.value}"
        )
    return AreaStatus(
        area_code=state.code,
        area_level=_AREA_LEVELS[state.area_type],
        area_name=area.name,
        level=shown,
        previous_level=previous,
        score=round(score, 2),
        counts_by_category={Category(k): v for k, v in sorted(by_category.items())},
        counts_by_severity={k: v for k, v in sorted(by_severity.items())},
        open_incidents=open_total,
        last_report_at=at_second(state.last_report_at, zone) if state.last_report_at else None,
        last_check_in_at=(
            at_second(state.last_check_in_at, zone) if state.last_check_in_at else None
        ),
        top_reports=tuple(
            TopReport(report_id=report_id, contribution=round(share, 2))
            for report_id, share in state.top_contributors(now, config)
        ),
        level_changed_at=at_minute(changed_at, zone),
        change_reason=reason[:2000],
        updated_at=updated_at,
    )


def windows_of(state: AreaState, now: int, config: ScoringConfig) -> list[WindowCounts]:
    """The short and long sliding windows (report counts), for the worker's web view."""
    return [
        state.buckets.window(now, config.windows.short_minutes),
        state.buckets.window(now, config.windows.long_minutes),
    ]


def status_bytes(status: AreaStatus) -> bytes:
    return status.model_dump_json(exclude_none=True).encode()


def comparable(status: AreaStatus) -> dict[str, Any]:
    """The status without the wall-clock field, for change detection and run comparisons."""
    return status.model_dump(mode="json", exclude={"updated_at"})


# --- province roll-up --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProvinceState:
    """Latest status of each regency of a province, and what the province last showed."""

    code: str
    regencies: Mapping[str, AreaStatus]
    level: StatusLevel | None = None
    previous: StatusLevel | None = None
    changed_at: datetime | None = None
    reason: str = ""

    def with_regency(self, status: AreaStatus) -> ProvinceState:
        """Take a regency's new status; remember a change of the rolled-up level."""
        regencies = {**self.regencies, status.area_code: status}
        level = rolled_up_level(regencies.values())
        if level is self.level:
            return ProvinceState(
                self.code, regencies, self.level, self.previous, self.changed_at, self.reason
            )
        return ProvinceState(
            self.code,
            regencies,
            level,
            self.level,
            status.level_changed_at,
            _province_reason(level, regencies.values()),
        )

    def encode(self) -> bytes:
        return json.dumps(
            {
                "code": self.code,
                "regencies": {
                    code: json.loads(status_bytes(s)) for code, s in self.regencies.items()
                },
                "level": self.level.value if self.level else None,
                "previous": self.previous.value if self.previous else None,
                "changed_at": self.changed_at.isoformat() if self.changed_at else None,
                "reason": self.reason,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> ProvinceState:
        data = json.loads(raw)
        return cls(
            data["code"],
            {code: AreaStatus.model_validate(s) for code, s in data["regencies"].items()},
            StatusLevel(data["level"]) if data["level"] else None,
            StatusLevel(data["previous"]) if data["previous"] else None,
            datetime.fromisoformat(data["changed_at"]) if data["changed_at"] else None,
            data["reason"],
        )


def roll_up(state: ProvinceState, statuses: Iterable[AreaStatus]) -> ProvinceState:
    """The province after its regencies' statuses, in the order they were published."""
    for status in statuses:
        state = state.with_regency(status)
    return state


def rolled_up_level(statuses: Sequence[AreaStatus] | Any) -> StatusLevel:
    in_contact = [s.level for s in statuses if s.level.rank is not None]
    if not in_contact:
        return StatusLevel.TIDAK_ADA_KABAR
    return max(in_contact, key=lambda level: level.rank or 0)


def _province_reason(level: StatusLevel, statuses: Any) -> str:
    statuses = sorted(statuses, key=lambda s: s.area_code)
    if level is StatusLevel.TIDAK_ADA_KABAR:
        return "Tidak ada kabar dari seluruh kabupaten/kota"
    at_level = [f"{s.area_name} ({s.area_code})" for s in statuses if s.level is level]
    silent = sum(1 for s in statuses if s.level is StatusLevel.TIDAK_ADA_KABAR)
    text = f"Tingkat tertinggi kabupaten/kota: {level.value} di {', '.join(at_level[:5])}"
    if len(at_level) > 5:
        text += f" dan {len(at_level) - 5} lainnya"
    if silent:
        text += f"; {silent} kabupaten/kota tanpa kabar"
    return text


def render_province(
    state: ProvinceState, area: Area, top_reports: int, updated_at: datetime
) -> AreaStatus:
    statuses = list(state.regencies.values())
    level = state.level or rolled_up_level(statuses)
    by_category: dict[Category, int] = {}
    by_severity: dict[str, int] = {}
    for status in statuses:
        for category, count in status.counts_by_category.items():
            by_category[category] = by_category.get(category, 0) + count
        for severity, count in status.counts_by_severity.items():
            by_severity[severity] = by_severity.get(severity, 0) + count
    top = sorted(
        (report for status in statuses for report in status.top_reports),
        key=lambda report: (-report.contribution, report.report_id),
    )[:top_reports]
    last_reports = [s.last_report_at for s in statuses if s.last_report_at]
    last_check_ins = [s.last_check_in_at for s in statuses if s.last_check_in_at]
    return AreaStatus(
        area_code=state.code,
        area_level=AreaLevel.PROVINCE,
        area_name=area.name,
        level=level,
        previous_level=state.previous,
        score=round(sum(s.score for s in statuses), 2),
        counts_by_category=dict(sorted(by_category.items())),
        counts_by_severity=dict(sorted(by_severity.items())),
        open_incidents=sum(s.open_incidents for s in statuses),
        last_report_at=max(last_reports) if last_reports else None,
        last_check_in_at=max(last_check_ins) if last_check_ins else None,
        top_reports=tuple(top),
        level_changed_at=state.changed_at or updated_at,
        change_reason=state.reason or _province_reason(level, statuses),
        updated_at=updated_at,
    )
