"""The scoring rules (one YAML file, validated at start-up) and the pure functions over them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.registry import AreaLevel, AreaRegistry
from schemas.report import Category, IncidentState
from schemas.status import RANKED_LEVELS, StatusLevel

__all__ = [
    "AreaType",
    "ScoringConfig",
    "ScoringConfigError",
    "default_scoring_path",
    "load_scoring_config",
]

AreaType = Literal["regency", "district"]
"""Area types with their own thresholds and silence intervals (the province is a roll-up)."""

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Minutes = Annotated[int, Field(ge=1, le=366 * 24 * 60)]

_STRICT: Final = ConfigDict(frozen=True, extra="forbid")


class Windows(BaseModel):
    model_config = _STRICT

    short_minutes: Minutes = 60
    long_minutes: Minutes = 1440

    @model_validator(mode="after")
    def _ordered(self) -> Windows:
        if self.short_minutes > self.long_minutes:
            raise ValueError("windows.short_minutes must not exceed windows.long_minutes")
        return self


class Thresholds(BaseModel):
    """Score at which each level starts (AMAN below WASPADA)."""

    model_config = _STRICT

    WASPADA: Positive
    SIAGA: Positive
    AWAS: Positive

    @model_validator(mode="after")
    def _increasing(self) -> Thresholds:
        if not self.WASPADA < self.SIAGA < self.AWAS:
            raise ValueError("thresholds must increase: WASPADA < SIAGA < AWAS")
        return self

    def of(self, level: StatusLevel) -> float:
        return {
            StatusLevel.AMAN: 0.0,
            StatusLevel.WASPADA: self.WASPADA,
            StatusLevel.SIAGA: self.SIAGA,
            StatusLevel.AWAS: self.AWAS,
        }[level]

    def level_for(self, score: float) -> StatusLevel:
        """The highest level whose threshold the score reaches."""
        if score >= self.AWAS:
            return StatusLevel.AWAS
        if score >= self.SIAGA:
            return StatusLevel.SIAGA
        if score >= self.WASPADA:
            return StatusLevel.WASPADA
        return StatusLevel.AMAN


class PerAreaType(BaseModel):
    model_config = _STRICT

    regency: Minutes
    district: Minutes

    def of(self, area_type: AreaType) -> int:
        return int(getattr(self, area_type))


class ThresholdsPerAreaType(BaseModel):
    model_config = _STRICT

    regency: Thresholds
    district: Thresholds

    def of(self, area_type: AreaType) -> Thresholds:
        return self.regency if area_type == "regency" else self.district


class ScoringConfig(BaseModel):
    """Everything that decides a level; see streams/config/scoring.yaml for the meaning."""

    model_config = _STRICT

    version: Literal[1]
    lateness_minutes: Minutes = 360
    windows: Windows = Windows()
    decay_half_life_minutes: Positive = 180
    incident_window_minutes: Minutes = 1440
    state_factors: dict[IncidentState, NonNegative]
    severity_weights: dict[Annotated[int, Field(ge=1, le=5)], NonNegative]
    category_weights: dict[Category, NonNegative]
    thresholds: ThresholdsPerAreaType
    calm_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)] = 60
    silence_minutes: PerAreaType
    baseline_risk: dict[str, NonNegative] = Field(default_factory=dict)
    top_reports: Annotated[int, Field(ge=0, le=50)] = 5

    @model_validator(mode="after")
    def _complete(self) -> ScoringConfig:
        problems = []
        missing_categories = sorted(set(Category) - set(self.category_weights))
        if missing_categories:
            problems.append(f"category_weights lacks {', '.join(missing_categories)}")
        missing_severities = sorted(set(range(1, 6)) - set(self.severity_weights))
        if missing_severities:
            problems.append(f"severity_weights lacks {missing_severities}")
        for state in (IncidentState.OPEN, IncidentState.HANDLING):
            if state not in self.state_factors:
                problems.append(f"state_factors lacks {state.value}")
        if self.state_factors.get(IncidentState.RESOLVED, 0.0) != 0.0:
            problems.append("state_factors.resolved must be 0 (a resolved incident stops counting)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # --- derived values -------------------------------------------------------------------

    @cached_property
    def retention_minutes(self) -> int:
        """How long a minute bucket is kept: the longest view that reads it."""
        return max(self.windows.long_minutes, self.incident_window_minutes)

    def weight(self, category: Category, severity: int, state: IncidentState) -> float:
        """An incident's weight at the minute of its latest report (before decay)."""
        if state is IncidentState.RESOLVED:
            return 0.0
        return (
            self.severity_weights[severity]
            * self.category_weights[category]
            * self.state_factors.get(state, 0.0)
        )

    @cached_property
    def decay_table(self) -> tuple[float, ...]:
        """``decay(age)`` for every age inside the incident window (index = age in minutes)."""
        half_life = self.decay_half_life_minutes
        return tuple(math.pow(0.5, age / half_life) for age in range(self.incident_window_minutes))

    def decay(self, age_minutes: int) -> float:
        """Share of a weight left after ``age_minutes``; 0 once outside the incident window."""
        if age_minutes < 0:
            age_minutes = 0
        if age_minutes >= self.incident_window_minutes:
            return 0.0
        return self.decay_table[age_minutes]

    def baseline(self, area_code: str) -> float:
        return self.baseline_risk.get(area_code, 0.0)

    def raw_level(self, area_type: AreaType, score: float) -> StatusLevel:
        return self.thresholds.of(area_type).level_for(score)

    def threshold(self, area_type: AreaType, level: StatusLevel) -> float:
        return self.thresholds.of(area_type).of(level)

    def registry_problems(self, registry: AreaRegistry) -> list[str]:
        """baseline_risk keys that are not regency or kecamatan codes of the registry."""
        problems = []
        for code in sorted(self.baseline_risk):
            area = registry.get(code)
            if area is None or area.level not in (AreaLevel.REGENCY, AreaLevel.DISTRICT):
                problems.append(f"baseline_risk: {code!r} is not a regency or kecamatan code")
        return problems


class ScoringConfigError(ValueError):
    """The scoring file is missing, not YAML, or breaks a rule; the message says where."""


def default_scoring_path() -> Path:
    return Path(str(resources.files("streams") / "config" / "scoring.yaml"))


def load_scoring_config(
    path: Path | None = None, registry: AreaRegistry | None = None
) -> ScoringConfig:
    """Read and validate the scoring file; raises ScoringConfigError with every problem."""
    source = path or default_scoring_path()
    try:
        document: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScoringConfigError(f"cannot read scoring config {source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ScoringConfigError(f"scoring config {source} is not valid YAML: {exc}") from None
    if not isinstance(document, Mapping):
        raise ScoringConfigError(f"scoring config {source} must be a YAML mapping")
    try:
        config = ScoringConfig.model_validate(document)
    except ValidationError as exc:
        lines = [f"scoring config {source} is invalid:"]
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "(file)"
            lines.append(f"  {where}: {error['msg']}")
        raise ScoringConfigError("\n".join(lines)) from None
    if registry is not None and (problems := config.registry_problems(registry)):
        raise ScoringConfigError(
            "\n".join([f"scoring config {source} is invalid:", *(f"  {p}" for p in problems)])
        )
    return config


RANKS: Final = {level: rank for rank, level in enumerate(RANKED_LEVELS)}
