"""Scenario files (YAML): what a simulated operation looks like, validated on load.

A scenario names the areas (a province, or every regency), the operation's phases with dates,
per-regency risk, the check-in habits of the village officers (Bhabinkamtibmas), the incident
mix of each phase, scripted escalation episodes, silent areas, and how messy the reporting is
(late and out-of-order reports, duplicates, invalid reports). Times of day are local to each
area's province; scripted times carry an explicit UTC offset.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from schemas.registry import AreaLevel, AreaRegistry, UnknownAreaError
from schemas.report import (
    Category,
    GeoPoint,
    IncidentState,
    OperationPhase,
    ReporterRole,
    ReportSource,
)

SCENARIO_PACKAGE: Final = "producers.scenarios"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
INVALID_KINDS: Final = (
    "unknown_district",
    "severity_out_of_range",
    "missing_category",
    "occurred_in_future",
    "truncated_json",
    "naive_timestamp",
    "subdistrict_outside_district",
)
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"15m"``, ``"6h"``, ``"2d"`` (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a duration like 90s, 15m, 6h or 2d")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Share = Annotated[float, Field(ge=0, le=1)]
Weights = dict[str, Annotated[float, Field(ge=0)]]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DelayRange(_Model):
    """A range of delays; values are drawn uniformly between ``min`` and ``max``."""

    min: Duration
    max: Duration

    @model_validator(mode="after")
    def _ordered(self) -> DelayRange:
        if self.max < self.min:
            raise ValueError("max must not be below min")
        return self


class Phase(_Model):
    phase: OperationPhase
    start: date
    end: date = Field(description="last day of the phase (inclusive)")
    incidents_per_regency_day: float = Field(ge=0, description="at risk 1.0")
    categories: Weights = Field(description="incident mix: category -> weight")
    hours: tuple[int, int] = Field(default=(7, 22), description="local hours incidents happen")

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, weights: Weights) -> Weights:
        unknown = sorted(set(weights) - {c.value for c in Category})
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {[c.value for c in Category]}")
        if not any(weights.values()):
            raise ValueError("at least one category needs a positive weight")
        return weights

    @model_validator(mode="after")
    def _ordered(self) -> Phase:
        if self.end < self.start:
            raise ValueError(f"phase {self.phase.value} ends before it starts")
        if not 0 <= self.hours[0] < self.hours[1] <= 24:
            raise ValueError("hours must be [from, to] with 0 <= from < to <= 24")
        return self


class CheckInHabit(_Model):
    """How one kind of officer checks in: how often, around which hours, how reliably."""

    name: str
    share: float = Field(gt=0, description="relative share of villages with this habit")
    hours: tuple[int, ...] = Field(min_length=1, description="local hours of the check-ins")
    jitter: Duration = timedelta(minutes=30)
    skip: Share = Field(default=0.0, description="chance a planned check-in does not happen")


class CheckIns(_Model):
    level: Literal["village", "kecamatan"] = "village"
    role: ReporterRole = ReporterRole.BHABINKAMTIBMAS
    habits: tuple[CheckInHabit, ...] = Field(min_length=1)
    # Bounds the volume of large scenarios (None = every village).
    villages_per_kecamatan: int | None = Field(default=None, ge=1)


class RegencyProfile(_Model):
    risk: float = Field(default=1.0, ge=0)
    center: GeoPoint | None = Field(default=None, description="approximate seat, for locations")


class EpisodeStep(_Model):
    at: Duration = Field(description="offset from the episode start")
    category: Category
    severity: int = Field(ge=1, le=5)
    count: int = Field(default=1, ge=1, le=100)
    state: IncidentState = IncidentState.OPEN
    incident: str | None = Field(
        default=None,
        description="label: reports with the same label share an incident_id; a handling or "
        "resolved step without one updates every incident the episode opened so far",
    )
    spread: Duration = Field(default=timedelta(minutes=10), description="reports spread over")
    text: str | None = None
    source: ReportSource | None = None
    role: ReporterRole | None = None


class Episode(_Model):
    """A scripted sequence in one kecamatan (e.g. a clash building up), with fixed ids."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    title: str
    district: str
    subdistrict: str
    village: str | None = None
    tps: str | None = None
    start: AwareDatetime
    location: GeoPoint | None = None
    steps: tuple[EpisodeStep, ...] = Field(min_length=1)


class SilentArea(_Model):
    """Units in this area stop reporting (area code at any level) from ``start`` to ``end``."""

    area: str
    start: AwareDatetime
    end: AwareDatetime
    note: str = ""


class Disorder(_Model):
    share: Share = 0.0
    delay: DelayRange


class Invalid(_Model):
    """A share of reports sent broken, in these ways (kind -> weight)."""

    share: Share = 0.0
    kinds: Weights = Field(default_factory=lambda: dict.fromkeys(INVALID_KINDS, 1.0))

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, weights: Weights) -> Weights:
        unknown = sorted(set(weights) - set(INVALID_KINDS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; known: {list(INVALID_KINDS)}")
        return weights


class FollowUps(_Model):
    share: Share = 0.0
    handling_after: DelayRange
    resolved_after: DelayRange


class Scenario(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    description: str = ""
    id_prefix: str = Field(pattern=r"^[a-z0-9]{2,12}$", description="report_id prefix")
    province: str | None = Field(default=None, description="one province, or None for all")
    regencies: Literal["all"] | tuple[str, ...] = "all"
    timezone: str = Field(description="IANA zone of areas without a province override")
    province_timezones: dict[str, str] = {}
    start: date
    end: date = Field(description="last day (inclusive)")
    phases: tuple[Phase, ...] = Field(min_length=1)
    regency_profiles: dict[str, RegencyProfile] = {}
    check_ins: CheckIns
    severity: dict[str, tuple[float, float, float, float, float]] = Field(
        default_factory=dict, description="category -> weights of severities 1..5"
    )
    sources: Weights = Field(default_factory=lambda: {"app": 1.0})
    report_delay: DelayRange = DelayRange(min=timedelta(seconds=5), max=timedelta(minutes=2))
    late: Disorder | None = None
    out_of_order: Disorder | None = None
    duplicates: Disorder | None = None
    invalid: Invalid = Invalid()
    follow_ups: FollowUps | None = None
    location_share: Share = 0.0
    episodes: tuple[Episode, ...] = ()
    silent_areas: tuple[SilentArea, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, name: str) -> str:
        _zone(name)
        return name

    @field_validator("province_timezones")
    @classmethod
    def _zones_exist(cls, zones: dict[str, str]) -> dict[str, str]:
        for name in zones.values():
            _zone(name)
        return zones

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, weights: Weights) -> Weights:
        unknown = sorted(set(weights) - {s.value for s in ReportSource})
        if unknown:
            raise ValueError(f"unknown sources {unknown}")
        return weights

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.end < self.start:
            raise ValueError("end is before start")
        for phase in self.phases:
            if phase.start < self.start or phase.end > self.end:
                raise ValueError(f"phase {phase.phase.value} lies outside {self.start}..{self.end}")
        ordered = sorted(self.phases, key=lambda p: p.start)
        for before, after in itertools.pairwise(ordered):
            if after.start <= before.end:
                raise ValueError(f"phases {before.phase.value} and {after.phase.value} overlap")
        unknown = sorted(set(self.severity) - {c.value for c in Category})
        if unknown:
            raise ValueError(f"severity: unknown categories {unknown}")
        ids = [episode.id for episode in self.episodes]
        if len(ids) != len(set(ids)):
            raise ValueError("episode ids must be unique")
        return self

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def phase_on(self, day: date) -> Phase | None:
        return next((p for p in self.phases if p.start <= day <= p.end), None)

    def zone_for(self, area_code: str) -> ZoneInfo:
        return _zone(self.province_timezones.get(area_code[:2], self.timezone))

    def check_areas(self, registry: AreaRegistry) -> None:
        """Every area the scenario names exists and nests as it says (raises ValueError)."""
        try:
            if self.province is not None:
                registry.require(self.province, AreaLevel.PROVINCE)
            if self.regencies != "all":
                for code in self.regencies:
                    registry.require(code, AreaLevel.REGENCY)
            for code in self.regency_profiles:
                registry.require(code, AreaLevel.REGENCY)
            for province in self.province_timezones:
                registry.require(province, AreaLevel.PROVINCE)
            for episode in self.episodes:
                registry.require(episode.district, AreaLevel.REGENCY)
                _inside(registry, episode.subdistrict, AreaLevel.DISTRICT, episode.district)
                if episode.village is not None:
                    _inside(registry, episode.village, AreaLevel.VILLAGE, episode.subdistrict)
            for silent in self.silent_areas:
                registry.require(silent.area)
        except UnknownAreaError as exc:
            raise ValueError(f"scenario {self.name}: {exc.message}") from None


def _inside(registry: AreaRegistry, code: str, level: AreaLevel, parent: str) -> None:
    registry.require(code, level)
    if not registry.belongs_to(code, parent):
        raise ValueError(f"{code} is not inside {parent}")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


# --- loading -----------------------------------------------------------------------------------


def shipped_scenarios() -> dict[str, str]:
    """name -> title of the scenarios shipped with the package."""
    found = {}
    for entry in resources.files(SCENARIO_PACKAGE).iterdir():
        if entry.name.endswith(".yaml"):
            document = yaml.safe_load(entry.read_text(encoding="utf-8"))
            found[entry.name.removesuffix(".yaml")] = str(document.get("title", ""))
    return dict(sorted(found.items()))


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a YAML file by path (pydantic.ValidationError if bad)."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files(SCENARIO_PACKAGE) / f"{name_or_path}.yaml"
        if not resource.is_file():
            known = ", ".join(shipped_scenarios())
            raise FileNotFoundError(f"no scenario {name_or_path!r} (shipped: {known})")
        text = resource.read_text(encoding="utf-8")
    return parse_scenario(text)


def parse_scenario(text: str) -> Scenario:
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise ValueError("a scenario file is a YAML mapping")
    return Scenario.model_validate(document)


def scenario_start(scenario: Scenario) -> datetime:
    """Local midnight of the first day, in the scenario's main time zone."""
    return datetime.combine(scenario.start, datetime.min.time(), _zone(scenario.timezone))
