"""The scenario simulator: a deterministic stream of raw field reports, in arrival order.

Same scenario + seed -> the same bytes, whatever the pacing or where the run starts: every
scenario day draws from its own random generator seeded with (seed, scenario, day), and every
village's check-in habit from (seed, village). Reports are generated day by day and come out
ordered by ``received_at`` (arrival), so late and delayed reports arrive out of event order just
as they would from the field. Invalid reports are emitted as the bytes a broken client would
send; producing them puts them on the dead-letter topic.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from producers.simulator.scenario import (
    CheckInHabit,
    DelayRange,
    Episode,
    Phase,
    Scenario,
    Weights,
)
from producers.simulator.texts import (
    Place,
    check_in_text,
    follow_up_text,
    incident_text,
)
from schemas.registry import Area, AreaRegistry
from schemas.report import (
    REPORT_SCHEMA_VERSION,
    Category,
    IncidentState,
    OperationPhase,
    ReporterRole,
    ReportKind,
    ReportSource,
)

_INCIDENT_ROLES: Final = {
    ReporterRole.BHABINKAMTIBMAS: 4,
    ReporterRole.PATROL: 3,
    ReporterRole.POLSEK: 2,
    ReporterRole.INTEL: 1,
    ReporterRole.BABINSA: 0.5,
    ReporterRole.PUBLIC: 0.5,
}
_DEFAULT_SEVERITY: Final = (0.25, 0.35, 0.25, 0.1, 0.05)
_VOTING_PHASES: Final = {OperationPhase.VOTING, OperationPhase.COUNTING}


@dataclass(frozen=True)
class SimRecord:
    """One simulated submission: the bytes a client sends and when they arrive."""

    arrives_at: datetime
    raw: bytes
    report_id: str | None
    district: str | None
    kind: str  # check_in, incident, follow_up, episode, duplicate, invalid
    episode: str | None = None


@dataclass(frozen=True)
class _Unit:
    """Who checks in: a village officer (or a kecamatan post) and where."""

    regency: Area
    kecamatan: Area
    village: Area | None


class Simulator:
    def __init__(self, scenario: Scenario, registry: AreaRegistry, seed: int) -> None:
        scenario.check_areas(registry)
        self.scenario = scenario
        self.registry = registry
        self.seed = seed
        self.regencies = self._regencies()
        self._kecamatan = {r.code: registry.districts(r.code) for r in self.regencies}
        self._units: dict[str, tuple[_Unit, ...]] = {}
        self._habits: dict[str, CheckInHabit] = {}
        self._sequence = 0  # tie-break for equal arrival times: generation order

    # --- areas ---------------------------------------------------------------------------------

    def _regencies(self) -> tuple[Area, ...]:
        s = self.scenario
        if s.regencies != "all":
            return tuple(self.registry.require(code) for code in s.regencies)
        provinces = [s.province] if s.province else [p.code for p in self.registry.provinces()]
        return tuple(r for p in provinces for r in self.registry.regencies(p))

    def units(self, regency: Area) -> tuple[_Unit, ...]:
        """Who checks in within a regency (cached): villages or kecamatan posts."""
        if regency.code not in self._units:
            config = self.scenario.check_ins
            units: list[_Unit] = []
            for kecamatan in self._kecamatan[regency.code]:
                if config.level == "kecamatan":
                    units.append(_Unit(regency, kecamatan, None))
                    continue
                villages = self.registry.villages(kecamatan.code)
                cap = config.villages_per_kecamatan
                if cap is not None and len(villages) > cap:
                    picker = random.Random(f"{self.seed}|villages|{kecamatan.code}")
                    villages = tuple(sorted(picker.sample(villages, cap), key=lambda a: a.code))
                units.extend(_Unit(regency, kecamatan, village) for village in villages)
            self._units[regency.code] = tuple(units)
        return self._units[regency.code]

    def habit(self, unit_code: str) -> CheckInHabit:
        if unit_code not in self._habits:
            habits = self.scenario.check_ins.habits
            picker = random.Random(f"{self.seed}|habit|{unit_code}")
            self._habits[unit_code] = picker.choices(habits, [h.share for h in habits])[0]
        return self._habits[unit_code]

    # --- the stream ----------------------------------------------------------------------------

    def records(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[SimRecord]:
        """Arrivals from ``start`` (default: the first day) until ``end`` (default: the last)."""
        s = self.scenario
        pending: list[tuple[datetime, int, SimRecord]] = []
        for record in self._episode_records():
            self._push(pending, record)
        lookback = self._max_delay() + timedelta(days=1)
        for offset in range(s.days):
            day = s.start + timedelta(days=offset)
            next_day_starts = self._earliest_midnight(day + timedelta(days=1))
            if start is not None and next_day_starts + lookback < start:
                continue  # nothing generated on this day can arrive after ``start``
            for record in self._day_records(day):
                self._push(pending, record)
            # Later days only produce arrivals after their own (earliest) midnight.
            while pending and pending[0][0] < next_day_starts:
                record = heapq.heappop(pending)[2]
                if end is not None and record.arrives_at >= end:
                    return
                if start is None or record.arrives_at >= start:
                    yield record
        while pending:
            record = heapq.heappop(pending)[2]
            if end is not None and record.arrives_at >= end:
                return
            if start is None or record.arrives_at >= start:
                yield record

    def _push(self, pending: list[tuple[datetime, int, SimRecord]], record: SimRecord) -> None:
        self._sequence += 1
        heapq.heappush(pending, (record.arrives_at, self._sequence, record))

    def _earliest_midnight(self, day: date) -> datetime:
        zones = {self.scenario.zone_for(r.code) for r in self.regencies}
        return min(datetime.combine(day, time.min, zone) for zone in zones)

    def _max_delay(self) -> timedelta:
        s = self.scenario
        delays = [s.report_delay.max]
        for disorder in (s.late, s.out_of_order, s.duplicates):
            if disorder is not None:
                delays.append(disorder.delay.max)
        if s.follow_ups is not None:
            delays.append(s.follow_ups.resolved_after.max)
        return max(delays) * 2

    # --- one day -------------------------------------------------------------------------------

    def _day_records(self, day: date) -> list[SimRecord]:
        day_rng = random.Random(f"{self.seed}|{self.scenario.name}|{day.isoformat()}")
        builder = _DayBuilder(self, day, day_rng)
        for regency in self.regencies:
            builder.check_ins(regency)
            builder.incidents(regency)
        return builder.records

    # --- scripted episodes ---------------------------------------------------------------------

    def _episode_records(self) -> list[SimRecord]:
        records: list[SimRecord] = []
        for episode in self.scenario.episodes:
            records.extend(_EpisodeBuilder(self, episode).build())
        return records


def report_document(
    *,
    report_id: str,
    occurred_at: datetime,
    received_at: datetime,
    district: str,
    subdistrict: str | None,
    village: str | None,
    tps: str | None,
    location: tuple[float, float] | None,
    kind: ReportKind,
    category: Category,
    severity: int,
    incident_id: str | None,
    state: IncidentState,
    unit: str,
    role: ReporterRole,
    source: ReportSource,
    phase: OperationPhase,
    text: str,
) -> dict[str, Any]:
    """A wire-format report as a dict, fields in contract order, optionals left out."""
    document: dict[str, Any] = {
        "report_id": report_id,
        "occurred_at": occurred_at.isoformat(timespec="seconds"),
        "received_at": received_at.isoformat(timespec="seconds"),
        "district": district,
    }
    if subdistrict:
        document["subdistrict"] = subdistrict
    if village:
        document["village"] = village
    if tps:
        document["tps"] = tps
    if location:
        document["location"] = {"lat": location[0], "lon": location[1]}
    document.update(kind=kind.value, category=category.value, severity=severity)
    if incident_id and incident_id != report_id:
        document["incident_id"] = incident_id
    if state is not IncidentState.OPEN:
        document["incident_state"] = state.value
    document.update(
        reporter={"unit": unit, "role": role.value},
        source=source.value,
        phase=phase.value,
        text=text,
        schema_version=REPORT_SCHEMA_VERSION,
    )
    return document


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def draw_delay(rng: random.Random, delay: DelayRange) -> timedelta:
    low, high = delay.min.total_seconds(), delay.max.total_seconds()
    return timedelta(seconds=round(rng.uniform(low, high)))


def weighted(rng: random.Random, weights: Weights | dict[Any, float]) -> Any:
    keys = list(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # normal approximation; Knuth's loop gets slow and underflows
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def short_name(regency: Area) -> str:
    for prefix in ("Kabupaten Administrasi ", "Kota Administrasi ", "Kabupaten ", "Kota "):
        if regency.name.startswith(prefix):
            return regency.name[len(prefix) :]
    return regency.name


def unit_name(role: ReporterRole, regency: Area, kecamatan: Area, village: Area | None) -> str:
    match role:
        case ReporterRole.BHABINKAMTIBMAS:
            return f"Bhabinkamtibmas {village.name if village else kecamatan.name}"
        case ReporterRole.POLSEK | ReporterRole.PATROL:
            return f"Polsek {kecamatan.name}"
        case ReporterRole.INTEL:
            return f"Sat Intelkam Polres {short_name(regency)}"
        case ReporterRole.BABINSA:
            return f"Koramil {kecamatan.name}"
        case ReporterRole.PUBLIC:
            return f"Call Center 110 Polres {short_name(regency)}"
        case _:
            return f"Polres {short_name(regency)}"


class _DayBuilder:
    """Generates one day's reports (in generation order) with the day's random generator."""

    def __init__(self, sim: Simulator, day: date, rng: random.Random) -> None:
        self.sim = sim
        self.s = sim.scenario
        self.day = day
        self.rng = rng
        self.phase: Phase | None = self.s.phase_on(day)
        self.phase_value = self.phase.phase if self.phase else OperationPhase.OTHER
        self.records: list[SimRecord] = []
        self._count = 0

    def _next_id(self) -> str:
        self._count += 1
        return f"{self.s.id_prefix}-{self.day:%Y%m%d}-{self._count:06d}"

    def _midnight(self, regency: Area) -> datetime:
        return datetime.combine(self.day, time.min, self.s.zone_for(regency.code))

    def _tps(self) -> str | None:
        if self.phase_value in _VOTING_PHASES and self.rng.random() < 0.6:
            return f"{self.rng.randint(1, 40):03d}"
        return None

    def _location(self, regency: Area) -> tuple[float, float] | None:
        profile = self.s.regency_profiles.get(regency.code)
        if profile is None or profile.center is None or self.rng.random() >= self.s.location_share:
            return None
        lat = round(profile.center.lat + self.rng.uniform(-0.08, 0.08), 5)
        lon = round(profile.center.lon + self.rng.uniform(-0.08, 0.08), 5)
        return (max(-90.0, min(90.0, lat)), max(-180.0, min(180.0, lon)))

    def check_ins(self, regency: Area) -> None:
        config = self.s.check_ins
        midnight = self._midnight(regency)
        voting = self.phase_value in _VOTING_PHASES
        for unit in self.sim.units(regency):
            area = unit.village or unit.kecamatan
            habit = self.sim.habit(area.code)
            for hour in habit.hours:
                if self.rng.random() < habit.skip:
                    continue
                jitter = self.rng.gauss(0, habit.jitter.total_seconds())
                seconds = min(max(hour * 3600 + jitter, 0), 86_399)
                occurred = midnight + timedelta(seconds=round(seconds))
                tps = f"{self.rng.randint(1, 40):03d}" if voting else None
                place = Place(regency.name, unit.kecamatan.name, area.name)
                self._emit(
                    "check_in",
                    unit,
                    occurred,
                    kind=ReportKind.CHECK_IN,
                    category=Category.OTHER,
                    severity=1,
                    role=config.role,
                    source=ReportSource.APP,
                    tps=tps,
                    text=check_in_text(self.rng, place, occurred, tps or "001", voting),
                )

    def incidents(self, regency: Area) -> None:
        if self.phase is None:
            return
        profile = self.s.regency_profiles.get(regency.code)
        risk = profile.risk if profile else 1.0
        kecamatan_list = self.sim._kecamatan[regency.code]
        if not kecamatan_list:
            return
        midnight = self._midnight(regency)
        first_hour, last_hour = self.phase.hours
        for _ in range(poisson(self.rng, self.phase.incidents_per_regency_day * risk)):
            kecamatan = self.rng.choice(kecamatan_list)
            villages = self.sim.registry.villages(kecamatan.code)
            village = self.rng.choice(villages) if villages and self.rng.random() < 0.7 else None
            unit = _Unit(regency, kecamatan, village)
            category = Category(weighted(self.rng, self.phase.categories))
            weights = self.s.severity.get(category.value, _DEFAULT_SEVERITY)
            severity = self.rng.choices(range(1, 6), weights)[0]
            seconds = self.rng.uniform(first_hour * 3600, last_hour * 3600 - 1)
            occurred = midnight + timedelta(seconds=round(seconds))
            role = ReporterRole(weighted(self.rng, _INCIDENT_ROLES))
            source = ReportSource(weighted(self.rng, self.s.sources))
            tps = self._tps()
            place = Place(regency.name, kecamatan.name, village.name if village else None)
            text = incident_text(category, severity, self.rng, place, occurred, tps or "001")
            report_id = self._emit(
                "incident",
                unit,
                occurred,
                kind=ReportKind.INCIDENT,
                category=category,
                severity=severity,
                role=role,
                source=source,
                tps=tps,
                text=text,
                location=self._location(regency),
            )
            if report_id is not None:
                self._follow_ups(unit, occurred, report_id, category, severity, tps, place)

    def _follow_ups(
        self,
        unit: _Unit,
        occurred: datetime,
        incident_id: str,
        category: Category,
        severity: int,
        tps: str | None,
        place: Place,
    ) -> None:
        config = self.s.follow_ups
        if config is None or self.rng.random() >= config.share:
            return
        handling = occurred + draw_delay(self.rng, config.handling_after)
        resolved = handling + draw_delay(self.rng, config.resolved_after)
        for state, moment, level in (
            (IncidentState.HANDLING, handling, severity),
            (IncidentState.RESOLVED, resolved, max(1, severity - 2)),
        ):
            self._emit(
                "follow_up",
                unit,
                moment,
                kind=ReportKind.INCIDENT,
                category=category,
                severity=level,
                role=ReporterRole.POLSEK,
                source=ReportSource.RADIO,
                tps=tps,
                text=follow_up_text(state, self.rng, place, moment, tps or "001"),
                incident_id=incident_id,
                state=state,
            )

    def _emit(
        self,
        kind_label: str,
        unit: _Unit,
        occurred: datetime,
        *,
        kind: ReportKind,
        category: Category,
        severity: int,
        role: ReporterRole,
        source: ReportSource,
        tps: str | None,
        text: str,
        incident_id: str | None = None,
        state: IncidentState = IncidentState.OPEN,
        location: tuple[float, float] | None = None,
    ) -> str | None:
        """Build one report, apply the scenario's disorder; the report_id, or None if silent."""
        report_id = self._next_id()  # drawn even when silent: ids do not shift with silences
        area_codes = [c.code for c in (unit.regency, unit.kecamatan, unit.village) if c]
        if _silenced(self.s, area_codes, occurred):
            return None
        received = occurred + self._delay()
        document = report_document(
            report_id=report_id,
            occurred_at=occurred,
            received_at=received,
            district=unit.regency.code,
            subdistrict=unit.kecamatan.code,
            village=unit.village.code if unit.village else None,
            tps=tps,
            location=location,
            kind=kind,
            category=category,
            severity=severity,
            incident_id=incident_id,
            state=state,
            unit=unit_name(role, unit.regency, unit.kecamatan, unit.village),
            role=role,
            source=source,
            phase=self.phase_value,
            text=text,
        )
        district = unit.regency.code
        if self.rng.random() < self.s.invalid.share:
            raw = corrupt(document, weighted(self.rng, self.s.invalid.kinds), self.rng)
            self.records.append(SimRecord(received, raw, report_id, district, "invalid"))
            return report_id
        raw = encode(document)
        self.records.append(SimRecord(received, raw, report_id, district, kind_label))
        duplicates = self.s.duplicates
        if duplicates is not None and self.rng.random() < duplicates.share:
            again = received + draw_delay(self.rng, duplicates.delay)
            self.records.append(SimRecord(again, raw, report_id, district, "duplicate"))
        return report_id

    def _delay(self) -> timedelta:
        s, roll = self.s, self.rng.random()
        if s.late is not None and roll < s.late.share:
            return draw_delay(self.rng, s.late.delay)
        roll -= s.late.share if s.late is not None else 0.0
        if s.out_of_order is not None and roll < s.out_of_order.share:
            return draw_delay(self.rng, s.out_of_order.delay)
        return draw_delay(self.rng, s.report_delay)


def _silenced(scenario: Scenario, area_codes: Sequence[str], moment: datetime) -> bool:
    return any(
        silent.start <= moment < silent.end and silent.area in area_codes
        for silent in scenario.silent_areas
    )


class _EpisodeBuilder:
    def __init__(self, sim: Simulator, episode: Episode) -> None:
        self.sim = sim
        self.episode = episode
        self.rng = random.Random(f"{sim.seed}|episode|{episode.id}")
        registry = sim.registry
        self.regency = registry.require(episode.district)
        self.kecamatan = registry.require(episode.subdistrict)
        self.village = registry.require(episode.village) if episode.village else None
        self.zone: ZoneInfo = sim.scenario.zone_for(episode.district)

    def build(self) -> list[SimRecord]:
        s, e = self.sim.scenario, self.episode
        prefix = f"{s.id_prefix}-ep-{e.id}"
        opened: list[str] = []
        records: list[SimRecord] = []
        number = 0
        place = Place(
            self.regency.name, self.kecamatan.name, self.village.name if self.village else None
        )
        for step in e.steps:
            step_start = e.start.astimezone(self.zone) + step.at
            if step.state is IncidentState.OPEN or step.incident is not None:
                targets: list[str | None] = [
                    f"{prefix}-{step.incident}" if step.incident else None
                ] * step.count
            else:
                targets = list(dict.fromkeys(opened))
            for index, incident_id in enumerate(targets):
                number += 1
                report_id = f"{prefix}-{number:03d}"
                spread = step.spread.total_seconds()
                offset = spread * index / max(1, len(targets)) + self.rng.uniform(0, 30)
                occurred = (step_start + timedelta(seconds=round(offset))).replace(microsecond=0)
                received = occurred + draw_delay(self.rng, s.report_delay)
                incident = incident_id or report_id
                if step.state is IncidentState.OPEN and incident not in opened:
                    opened.append(incident)
                role = step.role or ReporterRole.POLSEK
                if step.text is not None:
                    text = step.text
                elif step.state is IncidentState.OPEN:
                    text = incident_text(
                        step.category, step.severity, self.rng, place, occurred, e.tps or "001"
                    )
                else:
                    text = follow_up_text(step.state, self.rng, place, occurred, e.tps or "001")
                phase = s.phase_on(occurred.date())
                document = report_document(
                    report_id=report_id,
                    occurred_at=occurred,
                    received_at=received,
                    district=e.district,
                    subdistrict=e.subdistrict,
                    village=e.village,
                    tps=e.tps,
                    location=(e.location.lat, e.location.lon) if e.location else None,
                    kind=ReportKind.INCIDENT,
                    category=step.category,
                    severity=step.severity,
                    incident_id=incident,
                    state=step.state,
                    unit=unit_name(role, self.regency, self.kecamatan, self.village),
                    role=role,
                    source=step.source or ReportSource.RADIO,
                    phase=phase.phase if phase else OperationPhase.OTHER,
                    text=text,
                )
                records.append(
                    SimRecord(received, encode(document), report_id, e.district, "episode", e.id)
                )
        return records


# --- invalid reports ---------------------------------------------------------------------------


def corrupt(document: dict[str, Any], how: str, rng: random.Random) -> bytes:
    """The report as a broken client or a careless operator would send it."""
    broken = dict(document)
    match how:
        case "unknown_district":
            broken["district"] = "99.99"
            broken.pop("subdistrict", None)
            broken.pop("village", None)
        case "severity_out_of_range":
            broken["severity"] = rng.choice((0, 6, 7, 10))
        case "missing_category":
            broken.pop("category", None)
        case "occurred_in_future":
            received = datetime.fromisoformat(broken["received_at"])
            broken["occurred_at"] = (received + timedelta(hours=2)).isoformat(timespec="seconds")
        case "naive_timestamp":
            broken["occurred_at"] = broken["occurred_at"][:19]
        case "subdistrict_outside_district":
            broken["subdistrict"] = "31.71.01" if broken["district"] != "31.71" else "64.71.01"
            broken.pop("village", None)
        case "truncated_json":
            raw = encode(broken)
            return raw[: max(1, len(raw) // 2)]
        case _:
            raise ValueError(f"unknown kind of invalid report {how!r}")
    return encode(broken)


def scenario_instant(value: str, scenario: Scenario) -> datetime:
    """A ``--start`` value: a date (local midnight) or a time, in the scenario's zone if naive."""
    zone = ZoneInfo(scenario.timezone)
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time.min, zone)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
