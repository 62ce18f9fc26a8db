"""Alert rules as written in ``rules/*.yaml``: pydantic models and the loader.

A file holds one rule (a mapping) or several (a list). Every problem in every file is collected
and raised together as ``RulesError``, one line per problem: ``file: rule-id: field.path:
message``. Channel names are not checked here: the notifier owns them.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Generic, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from schemas.alert import AlertRoute, AlertTier
from schemas.registry import AreaRegistry
from schemas.report import Category, OperationPhase, ReportKind, ReportSource
from schemas.status import StatusLevel
from streams.rules.durations import Duration
from streams.rules.sites import SiteKind, default_rules_dir, default_sites_dir, load_sites

__all__ = [
    "COMMON_PLACEHOLDERS",
    "CountTier",
    "Flapping",
    "FlatlineParams",
    "FlatlineRule",
    "FlatlineTier",
    "FrequencyParams",
    "FrequencyRule",
    "GroupBy",
    "KeywordParams",
    "KeywordRule",
    "KeywordTier",
    "LevelParams",
    "LevelRule",
    "LevelTier",
    "Messages",
    "ProximityParams",
    "ProximityRule",
    "ProximityTier",
    "ReportFilter",
    "Rule",
    "RuleSet",
    "RulesError",
    "Scope",
    "SpikeParams",
    "SpikeRule",
    "SpikeTier",
    "default_rules_dir",
    "default_sites_dir",
    "format_pydantic_problems",
    "load_rules",
    "load_sites",
    "parse_rules",
]

_STRICT: Final = ConfigDict(frozen=True, extra="forbid")
Slug = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="lowercase, digits and '-'")
]
AreaPrefix = Annotated[str, Field(pattern=r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")]
SeverityValue = Annotated[int, Field(ge=1, le=5)]
Term = Annotated[str, Field(min_length=1, max_length=100, pattern=r"\w")]
GroupBy = Literal["province", "regency", "kecamatan", "village"]


class RulesError(ValueError):
    """Rule or site files with problems; ``problems`` has one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


# --- building blocks ---------------------------------------------------------------------------


class ReportFilter(BaseModel):
    """Which reports a rule looks at; every given condition must hold (empty = any)."""

    model_config = _STRICT

    categories: tuple[Category, ...] = ()
    severity_min: SeverityValue = 1
    severity_max: SeverityValue = 5
    kinds: tuple[ReportKind, ...] = ()
    sources: tuple[ReportSource, ...] = ()
    phases: tuple[OperationPhase, ...] = ()
    terms: tuple[Term, ...] = Field(default=(), description="any of these (stemmed) in the text")

    @model_validator(mode="after")
    def _ordered(self) -> ReportFilter:
        if self.severity_min > self.severity_max:
            raise ValueError("severity_min must not be above severity_max")
        return self


class Scope(BaseModel):
    """Which areas (code prefixes; empty = the configured province) and how to group them."""

    model_config = _STRICT

    areas: tuple[AreaPrefix, ...] = ()
    group_by: GroupBy = "regency"


class Flapping(BaseModel):
    """An alert that fired and resolved ``max_transitions`` times within ``period`` is held
    firing until its condition stayed clear for the whole ``period``."""

    model_config = _STRICT

    max_transitions: Annotated[int, Field(ge=2, le=100)] = 4
    period: Duration = 120


class Messages(BaseModel):
    """Templates with ``{placeholders}``: Indonesian (``id``) and English (``en``)."""

    model_config = _STRICT

    id: Annotated[str, Field(min_length=1, max_length=2000)]
    en: Annotated[str, Field(min_length=1, max_length=2000)]


class _Tier(BaseModel):
    model_config = _STRICT

    routes: tuple[AlertRoute, ...] = ()


TierT = TypeVar("TierT", bound=_Tier)


class Tiers(BaseModel, Generic[TierT]):
    model_config = _STRICT

    warning: TierT | None = None
    critical: TierT | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Tiers[TierT]:
        if self.warning is None and self.critical is None:
            raise ValueError("give at least one tier: warning and/or critical")
        return self

    def items(self) -> list[tuple[AlertTier, TierT]]:
        """The defined tiers, warning first."""
        pairs = [(AlertTier.WARNING, self.warning), (AlertTier.CRITICAL, self.critical)]
        return [(tier, spec) for tier, spec in pairs if spec is not None]

    def get(self, tier: AlertTier) -> TierT | None:
        return self.warning if tier is AlertTier.WARNING else self.critical


class _RuleBase(BaseModel):
    model_config = _STRICT

    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=4000)] = ""
    enabled: bool = True
    filter: ReportFilter = ReportFilter()
    scope: Scope = Scope()
    realert: Duration = Field(default=30, description="no new episode within this after resolve")
    resolve_after: Duration = Field(default=30, description="calm needed before auto-resolve")
    flapping: Flapping = Flapping()
    messages: Messages

    @property
    def longest_window(self) -> int:
        """Minutes of event time the rule looks back (0 for level rules)."""
        return 0


# --- level -------------------------------------------------------------------------------------


class LevelTier(_Tier):
    level: StatusLevel


class LevelParams(BaseModel):
    model_config = _STRICT

    escalation: bool = Field(
        default=False, description="fire only when the level rose (not on a steady level)"
    )


class LevelRule(_RuleBase):
    type: Literal["level"]
    params: LevelParams = LevelParams()
    tiers: Tiers[LevelTier]

    @model_validator(mode="after")
    def _tiers_ordered(self) -> LevelRule:
        w, c = self.tiers.warning, self.tiers.critical
        if w is not None and c is not None:
            w_rank, c_rank = w.level.rank, c.level.rank
            if w_rank is not None and c_rank is not None and c_rank < w_rank:
                raise ValueError("tiers: the critical level must not be below the warning level")
        if self.scope.group_by == "village":
            raise ValueError("scope.group_by: status exists for province, regency and kecamatan")
        return self


# --- frequency ---------------------------------------------------------------------------------


class CountTier(_Tier):
    count: Annotated[int, Field(ge=1, le=1_000_000)]


class FrequencyParams(BaseModel):
    model_config = _STRICT

    window: Duration


class FrequencyRule(_RuleBase):
    type: Literal["frequency"]
    params: FrequencyParams
    tiers: Tiers[CountTier]

    @property
    def longest_window(self) -> int:
        return self.params.window

    @model_validator(mode="after")
    def _tiers_ordered(self) -> FrequencyRule:
        w, c = self.tiers.warning, self.tiers.critical
        if w is not None and c is not None and c.count < w.count:
            raise ValueError("tiers: critical.count must be at least warning.count")
        return self


# --- spike -------------------------------------------------------------------------------------


class SpikeTier(_Tier):
    ratio: Annotated[float, Field(gt=0, allow_inf_nan=False)]


class SpikeParams(BaseModel):
    model_config = _STRICT

    window: Duration = 60
    baseline: Duration = 24 * 60
    direction: Literal["up", "down"] = "up"
    min_count: Annotated[int, Field(ge=1)] = Field(
        default=3, description="up: reports in the window; down: expected reports, at least"
    )


class SpikeRule(_RuleBase):
    type: Literal["spike"]
    params: SpikeParams = SpikeParams()
    tiers: Tiers[SpikeTier]

    @property
    def longest_window(self) -> int:
        return self.params.window + self.params.baseline

    @model_validator(mode="after")
    def _tiers_ordered(self) -> SpikeRule:
        w, c = self.tiers.warning, self.tiers.critical
        up = self.params.direction == "up"
        for name, tier in self.tiers.items():
            if up and tier.ratio <= 1:
                raise ValueError(f"tiers.{name}.ratio: must be above 1 for direction up")
            if not up and tier.ratio >= 1:
                raise ValueError(f"tiers.{name}.ratio: must be below 1 for direction down")
        if w is not None and c is not None and (c.ratio < w.ratio if up else c.ratio > w.ratio):
            more = "larger" if up else "smaller"
            raise ValueError(f"tiers: the critical ratio must be {more} than the warning ratio")
        return self


# --- flatline ----------------------------------------------------------------------------------


class FlatlineTier(_Tier):
    min_count: Annotated[int, Field(ge=1)] = Field(
        default=1, description="fires when fewer matching reports than this in the window"
    )
    window: Duration | None = Field(default=None, description="default: params.window")


class FlatlineParams(BaseModel):
    model_config = _STRICT

    window: Duration


class FlatlineRule(_RuleBase):
    type: Literal["flatline"]
    params: FlatlineParams
    tiers: Tiers[FlatlineTier]

    def tier_window(self, tier: FlatlineTier) -> int:
        return tier.window or self.params.window

    @property
    def longest_window(self) -> int:
        return max(self.tier_window(tier) for _, tier in self.tiers.items())

    @model_validator(mode="after")
    def _grouping(self) -> FlatlineRule:
        if self.scope.group_by == "province":
            raise ValueError("scope.group_by: report rules group by regency, kecamatan or village")
        return self


# --- keyword -----------------------------------------------------------------------------------


class KeywordTier(_Tier):
    terms: tuple[Term, ...] = Field(default=(), description="default: params.terms")
    severity_min: SeverityValue = 1
    count: Annotated[int, Field(ge=1)] = 1


class KeywordParams(BaseModel):
    model_config = _STRICT

    terms: tuple[Term, ...] = Field(min_length=1)
    window: Duration = Field(default=60, description="episode bucket: one alert per group each")


class KeywordRule(_RuleBase):
    type: Literal["keyword"]
    params: KeywordParams
    tiers: Tiers[KeywordTier]

    def tier_terms(self, tier: KeywordTier) -> tuple[str, ...]:
        return tier.terms or self.params.terms

    @property
    def longest_window(self) -> int:
        return self.params.window


# --- proximity ---------------------------------------------------------------------------------


class ProximityTier(_Tier):
    radius_m: Annotated[float, Field(gt=0, le=50_000)] | None = Field(
        default=None, description="default: the site's radius_m, else params.radius_m"
    )
    count: Annotated[int, Field(ge=1)] = 1


class ProximityParams(BaseModel):
    model_config = _STRICT

    radius_m: Annotated[float, Field(gt=0, le=50_000)] = 500
    site_kinds: tuple[SiteKind, ...] = Field(default=(), description="empty: every kind")
    window: Duration = 60


class ProximityRule(_RuleBase):
    type: Literal["proximity"]
    params: ProximityParams = ProximityParams()
    tiers: Tiers[ProximityTier]

    @property
    def longest_window(self) -> int:
        return self.params.window

    @model_validator(mode="after")
    def _tiers_ordered(self) -> ProximityRule:
        w, c = self.tiers.warning, self.tiers.critical
        if (
            w is not None
            and c is not None
            and w.radius_m is not None
            and c.radius_m is not None
            and c.radius_m > w.radius_m
        ):
            raise ValueError("tiers: critical.radius_m must not exceed warning.radius_m")
        return self


Rule = Annotated[
    LevelRule | FrequencyRule | SpikeRule | FlatlineRule | KeywordRule | ProximityRule,
    Field(discriminator="type"),
]
_RULE_ADAPTER: Final[TypeAdapter[Rule]] = TypeAdapter(Rule)
ReportRule = FrequencyRule | SpikeRule | FlatlineRule | KeywordRule | ProximityRule

# --- message placeholders ----------------------------------------------------------------------

COMMON_PLACEHOLDERS: Final = frozenset(
    {
        "rule_name",
        "area_name",
        "area_code",
        "tier",
        "value",
        "threshold",
        "count",
        "window",
        "window_start",
        "window_end",
        "time",
        "late",
    }
)
TYPE_PLACEHOLDERS: Final[Mapping[str, frozenset[str]]] = {
    "level": frozenset({"level", "previous_level"}),
    "frequency": frozenset(),
    "spike": frozenset({"ratio", "baseline", "expected", "direction"}),
    "flatline": frozenset(),
    "keyword": frozenset({"terms"}),
    "proximity": frozenset({"site_name", "site_kind", "distance_m", "radius_m"}),
}


def placeholder_problems(rule_type: str, messages: Messages) -> list[tuple[str, str]]:
    """(field path, message) for every unknown or malformed placeholder."""
    allowed = COMMON_PLACEHOLDERS | TYPE_PLACEHOLDERS[rule_type]
    problems: list[tuple[str, str]] = []
    for lang in ("id", "en"):
        template: str = getattr(messages, lang)
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
        except ValueError as exc:
            problems.append((f"messages.{lang}", f"bad template: {exc}"))
            continue
        for name in fields:
            if name not in allowed:
                known = ", ".join(sorted(allowed))
                problems.append(
                    (f"messages.{lang}", f"unknown placeholder {{{name}}} (known: {known})")
                )
    return problems


# --- the rule set and the loader ---------------------------------------------------------------


@dataclass(frozen=True)
class RuleSet:
    """The validated rules, in file order."""

    rules: tuple[Rule, ...] = ()
    province_code: str = "64"

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)

    def enabled(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)


def format_pydantic_problems(file: str, rule_id: str, error: ValidationError) -> list[str]:
    lines = []
    for problem in error.errors():
        location = [str(part) for part in problem["loc"]]
        # The discriminated union puts the type name first: "frequency.params.window".
        if location and location[0] in TYPE_PLACEHOLDERS:
            location = location[1:]
        path = ".".join(location) or "(rule)"
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{file}: {rule_id}: {path}: {message}")
    return lines


def parse_rules(
    documents: Sequence[tuple[str, Any]], registry: AreaRegistry, province_code: str = "64"
) -> RuleSet:
    """Validate parsed YAML documents (file name, content); raises RulesError."""
    problems: list[str] = []
    rules: list[Rule] = []
    defined_in: dict[str, str] = {}
    for file, document in documents:
        entries = document if isinstance(document, list) else [document]
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                problems.append(f"{file}: #{index + 1}: (rule): expected a mapping of fields")
                continue
            rule_id = str(entry.get("id") or f"#{index + 1}")
            try:
                rule = _RULE_ADAPTER.validate_python(entry)
            except ValidationError as exc:
                problems.extend(format_pydantic_problems(file, rule_id, exc))
                continue
            found = placeholder_problems(rule.type, rule.messages)
            found.extend(_area_problems(rule, registry))
            if rule.id in defined_in:
                found.append(("id", f"duplicate rule id (also in {defined_in[rule.id]})"))
            problems.extend(f"{file}: {rule.id}: {path}: {message}" for path, message in found)
            if not found:
                defined_in[rule.id] = file
                rules.append(_with_default_scope(rule, province_code))
    if problems:
        raise RulesError(problems)
    return RuleSet(tuple(rules), province_code)


def load_rules(folder: Path | None, registry: AreaRegistry, province_code: str = "64") -> RuleSet:
    """Every ``*.yaml`` directly in ``folder`` (None: the packaged ``rules/``), validated.

    Raises RulesError listing every problem.
    """
    folder = folder or default_rules_dir()
    if not folder.is_dir():
        raise RulesError([f"{folder}: not a folder of rule files"])
    documents: list[tuple[str, Any]] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{path.name}: (file): cannot read: {exc}")
            continue
        if document is None:
            continue
        documents.append((path.name, document))
    try:
        rule_set = parse_rules(documents, registry, province_code)
    except RulesError as exc:
        raise RulesError([*problems, *exc.problems]) from None
    if problems:
        raise RulesError(problems)
    return rule_set


def _area_problems(rule: Rule, registry: AreaRegistry) -> list[tuple[str, str]]:
    return [
        (f"scope.areas.{index}", f"unknown area code {code!r}")
        for index, code in enumerate(rule.scope.areas)
        if registry.get(code) is None
    ]


def _with_default_scope(rule: Rule, province_code: str) -> Rule:
    if rule.scope.areas:
        return rule
    scope = rule.scope.model_copy(update={"areas": (province_code,)})
    return rule.model_copy(update={"scope": scope})
