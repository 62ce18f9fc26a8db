"""The field report: the wire format of topic ``sitrep.reports`` (see DESIGN.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas.common import (
    WIRE_MODEL_CONFIG,
    Identifier,
    Matches,
    SchemaPattern,
    Timestamp,
    field_error,
    is_identifier,
    reject_newer_schema_version,
)
from schemas.registry import (
    Area,
    AreaLevel,
    AreaRegistry,
    UnknownAreaError,
    default_registry,
    describe_level,
)

__all__ = [
    "MAX_FUTURE_SKEW",
    "REGISTRY_CONTEXT_KEY",
    "REPORT_SCHEMA_VERSION",
    "Category",
    "FieldReport",
    "GeoPoint",
    "IncidentState",
    "OperationPhase",
    "ReportKind",
    "ReportSource",
    "Reporter",
    "ReporterRole",
    "parse_report",
    "report_to_json_bytes",
]

REPORT_SCHEMA_VERSION: Final = 1
MAX_FUTURE_SKEW: Final = timedelta(minutes=5)
REGISTRY_CONTEXT_KEY: Final = "registry"
MAX_TEXT_LENGTH: Final = 10_000


class ReportKind(StrEnum):
    INCIDENT = "incident"
    CHECK_IN = "check_in"  # routine "situation safe" report


class Category(StrEnum):
    CAMPAIGN_VIOLATION = "campaign_violation"
    MONEY_POLITICS = "money_politics"
    INTIMIDATION = "intimidation"
    CLASH = "clash"
    RIOT = "riot"
    HOAX = "hoax"
    VANDALISM = "vandalism"  # incl. damage to campaign props
    LOGISTICS = "logistics"
    CROWD = "crowd"
    CRIME = "crime"
    HAZARD = "hazard"
    OTHER = "other"


class IncidentState(StrEnum):
    OPEN = "open"
    HANDLING = "handling"
    RESOLVED = "resolved"


class ReporterRole(StrEnum):
    BHABINKAMTIBMAS = "bhabinkamtibmas"  # village community police officer
    PATROL = "patrol"
    INTEL = "intel"
    POLSEK = "polsek"  # kecamatan-level police station
    POLRES = "polres"  # regency/city-level police
    POLDA = "polda"  # provincial police
    BRIMOB = "brimob"
    BABINSA = "babinsa"  # army village officer, joint operations
    LINMAS = "linmas"  # civil-protection guard, e.g. at a polling station
    ELECTION_OFFICIAL = "election_official"  # KPU / PPK / PPS / KPPS
    ELECTION_SUPERVISOR = "election_supervisor"  # Bawaslu / Panwaslu
    PUBLIC = "public"
    OTHER = "other"


class ReportSource(StrEnum):
    APP = "app"
    RADIO = "radio"
    SMS = "sms"
    HOTLINE = "hotline"
    SOCIAL_MEDIA = "social_media"
    FILE = "file"


class OperationPhase(StrEnum):
    """Phase of the operation; ``other`` for operations without election phases."""

    PRE_CAMPAIGN = "pre_campaign"
    CAMPAIGN = "campaign"
    QUIET_PERIOD = "quiet_period"
    VOTING = "voting"
    COUNTING = "counting"
    RECAP = "recap"
    INAUGURATION = "inauguration"
    OTHER = "other"


Latitude = Annotated[float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False)]
Severity = Annotated[int, Field(strict=True, ge=1, le=5, description="1 routine … 5 critical")]
_TPS_PATTERN: Final = r"^[0-9A-Za-z-]{1,16}$"
PollingStation = Annotated[
    str,
    Field(description="polling station (TPS) number", examples=["012"]),
    Matches(_TPS_PATTERN, "must be 1-16 letters, digits or '-', e.g. 012 (no 'TPS' or spaces)"),
]
NonBlankText = Annotated[
    str, Field(min_length=1, max_length=200), Matches(r"\S", "must not be blank")
]


# The registry check runs in validators (clearer messages than a pattern error); these
# patterns only document the code shapes in the JSON Schema.
RegencyCode = Annotated[str, SchemaPattern(r"^\d{2}\.\d{2}$")]
KecamatanCode = Annotated[str, SchemaPattern(r"^\d{2}\.\d{2}\.\d{2}$")]
VillageCode = Annotated[str, SchemaPattern(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")]


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class GeoPoint(BaseModel):
    model_config = WIRE_MODEL_CONFIG

    lat: Latitude
    lon: Longitude


class Reporter(BaseModel):
    model_config = WIRE_MODEL_CONFIG

    unit: NonBlankText = Field(description="reporting unit, e.g. Polsek Balikpapan Timur")
    role: ReporterRole


class FieldReport(BaseModel):
    """One report from the field, exactly as carried on ``sitrep.reports``.

    Rules beyond the field types:

    * ``district`` is a regency/city code in the area registry; ``subdistrict`` (kecamatan)
      must lie in it and ``village`` in the subdistrict (or, without one, in the district).
    * A village without a subdistrict gets ``subdistrict`` filled from the village's
      kecamatan, so per-kecamatan status sees every report that names a village.
    * ``occurred_at`` may be at most 5 minutes after ``received_at``. The check uses the
      report's own ``received_at``, not the clock, so it is deterministic: a stored or
      replayed report validates the same way years later.
    * ``incident_id`` defaults to ``report_id``.
    * ``schema_version`` newer than this code knows is rejected with a single error.

    The area registry comes from the validation context (``context={"registry": reg}``),
    falling back to ``default_registry()``.
    """

    model_config = WIRE_MODEL_CONFIG

    report_id: Identifier = Field(
        description="producer-assigned unique id; the idempotency key downstream"
    )
    occurred_at: Timestamp = Field(description="event time; at most 5 min after received_at")
    received_at: Timestamp = Field(description="set by the intake or producer")
    district: RegencyCode = Field(
        description="regency/city (kabupaten/kota) code in the area registry",
        examples=["64.71"],
    )
    subdistrict: KecamatanCode | None = Field(
        default=None,
        description="kecamatan code inside district",
        examples=["64.71.01"],
    )
    village: VillageCode | None = Field(
        default=None,
        description="kelurahan/desa code inside subdistrict (or district)",
        examples=["64.71.01.1001"],
    )
    tps: PollingStation | None = None
    location: GeoPoint | None = None
    kind: ReportKind
    category: Category
    severity: Severity
    # Always set after validation (filled from report_id); the "" default is never used.
    incident_id: Identifier = Field(
        default="",
        description="incident this report updates; defaults to report_id",
        json_schema_extra=_drop_default,
    )
    incident_state: IncidentState = IncidentState.OPEN
    reporter: Reporter
    source: ReportSource
    phase: OperationPhase
    text: str = Field(max_length=MAX_TEXT_LENGTH, description="free text, mostly Indonesian")
    schema_version: int = Field(
        strict=True, ge=1, le=REPORT_SCHEMA_VERSION, description="wire format version"
    )

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any, info: ValidationInfo) -> Any:
        reject_newer_schema_version(data, REPORT_SCHEMA_VERSION, cls.__name__)
        if not isinstance(data, Mapping):
            return data
        return _fill_subdistrict(_fill_incident_id(dict(data)), _registry(info))

    @field_validator("district")
    @classmethod
    def _district_exists(cls, code: str, info: ValidationInfo) -> str:
        _require_area(_registry(info), code, AreaLevel.REGENCY)
        return code

    @field_validator("subdistrict")
    @classmethod
    def _subdistrict_in_district(cls, code: str | None, info: ValidationInfo) -> str | None:
        if code is not None:
            _require_inside(_registry(info), code, AreaLevel.DISTRICT, info.data.get("district"))
        return code

    @field_validator("village")
    @classmethod
    def _village_in_subdistrict(cls, code: str | None, info: ValidationInfo) -> str | None:
        if code is not None:
            container = info.data.get("subdistrict") or info.data.get("district")
            _require_inside(_registry(info), code, AreaLevel.VILLAGE, container)
        return code

    @model_validator(mode="after")
    def _not_in_future(self) -> FieldReport:
        if self.occurred_at - self.received_at > MAX_FUTURE_SKEW:
            message = (
                f"occurred_at ({self.occurred_at.isoformat()}) is more than 5 minutes after "
                f"received_at ({self.received_at.isoformat()}); check the device clock"
            )
            raise field_error(
                type(self).__name__,
                ("occurred_at",),
                "occurred_in_future",
                message,
                self.occurred_at.isoformat(),
            )
        return self


# --- validation helpers ------------------------------------------------------------------------


def _registry(info: ValidationInfo) -> AreaRegistry:
    context = info.context if isinstance(info.context, Mapping) else {}
    registry = context.get(REGISTRY_CONTEXT_KEY)
    if registry is None:
        return default_registry()
    if not isinstance(registry, AreaRegistry):
        raise TypeError(f"validation context {REGISTRY_CONTEXT_KEY!r} must be an AreaRegistry")
    return registry


def _fill_incident_id(data: dict[str, Any]) -> dict[str, Any]:
    report_id = data.get("report_id")
    # Only copy a valid report_id, so a bad one is reported once, not twice.
    if "incident_id" not in data and is_identifier(report_id):
        data["incident_id"] = report_id
    return data


def _fill_subdistrict(data: dict[str, Any], registry: AreaRegistry) -> dict[str, Any]:
    village, district = data.get("village"), data.get("district")
    if data.get("subdistrict") is not None or not isinstance(village, str):
        return data
    area = registry.get(village)
    # Only when consistent: otherwise the village validator reports the real problem.
    if area is not None and isinstance(district, str) and registry.belongs_to(village, district):
        data["subdistrict"] = area.parent_code
    return data


def _require_area(registry: AreaRegistry, code: str, level: AreaLevel) -> Area:
    try:
        return registry.require(code, level)
    except UnknownAreaError as exc:
        raise PydanticCustomError("unknown_area", "{reason}", {"reason": exc.message}) from None


def _require_inside(
    registry: AreaRegistry, code: str, level: AreaLevel, container_code: Any
) -> None:
    area = _require_area(registry, code, level)
    # No container: it failed its own validation, which already reported the problem.
    if not isinstance(container_code, str) or registry.belongs_to(code, container_code):
        return
    container = registry.get(container_code)
    container_label = f"{container_code} ({container.name})" if container else container_code
    raise PydanticCustomError(
        "area_outside_parent",
        "{level} {code} ({name}) is not inside {container}",
        {
            "level": describe_level(level),
            "code": code,
            "name": area.name,
            "container": container_label,
        },
    )


# --- wire helpers --------------------------------------------------------------------------------


def parse_report(raw: bytes | str, registry: AreaRegistry | None = None) -> FieldReport:
    """Validate one JSON report; raises pydantic.ValidationError (see validation_problems)."""
    context = {REGISTRY_CONTEXT_KEY: registry or default_registry()}
    return FieldReport.model_validate_json(raw, context=context)


def report_to_json_bytes(report: FieldReport) -> bytes:
    """Compact UTF-8 JSON, absent optionals omitted; ``parse_report`` gives the report back."""
    return report.model_dump_json(exclude_none=True).encode("utf-8")
