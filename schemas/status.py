"""Per-area situation status: the record on ``sitrep.status`` (compacted, key = area code)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, Field, model_validator

from schemas.common import (
    WIRE_MODEL_CONFIG,
    Identifier,
    Timestamp,
    field_error,
    reject_newer_schema_version,
)
from schemas.registry import AreaLevel, level_of_code
from schemas.report import Category

__all__ = [
    "RANKED_LEVELS",
    "STATUS_SCHEMA_VERSION",
    "AreaStatus",
    "StatusAreaLevel",
    "StatusLevel",
    "TopReport",
]

STATUS_SCHEMA_VERSION: Final = 1


class StatusLevel(StrEnum):
    """Situation level. The first four form a scale; TIDAK ADA KABAR (no contact) does not."""

    AMAN = "AMAN"  # normal
    WASPADA = "WASPADA"  # advisory
    SIAGA = "SIAGA"  # watch
    AWAS = "AWAS"  # warning
    TIDAK_ADA_KABAR = "TIDAK ADA KABAR"  # no report or check-in within the expected interval

    @property
    def rank(self) -> int | None:
        """0 (AMAN) … 3 (AWAS); None for TIDAK ADA KABAR, which is off the scale."""
        return _RANKS.get(self)

    @property
    def description_en(self) -> str:
        return _DESCRIPTIONS_EN[self]


RANKED_LEVELS: Final = (StatusLevel.AMAN, StatusLevel.WASPADA, StatusLevel.SIAGA, StatusLevel.AWAS)
"""The scale, low to high."""

_RANKS: Final = {level: rank for rank, level in enumerate(RANKED_LEVELS)}
_DESCRIPTIONS_EN: Final = {
    StatusLevel.AMAN: "normal",
    StatusLevel.WASPADA: "advisory",
    StatusLevel.SIAGA: "watch",
    StatusLevel.AWAS: "warning",
    StatusLevel.TIDAK_ADA_KABAR: "no contact",
}

StatusAreaLevel = Literal[AreaLevel.PROVINCE, AreaLevel.REGENCY, AreaLevel.DISTRICT]
"""Status is kept per regency and kecamatan and rolled up to the province; not per village."""

SeverityKey = Literal["1", "2", "3", "4", "5"]
Count = Annotated[int, Field(strict=True, ge=0)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class TopReport(BaseModel):
    """A report that drove the score, with its share of it."""

    model_config = WIRE_MODEL_CONFIG

    report_id: Identifier
    contribution: NonNegativeFloat


class AreaStatus(BaseModel):
    """Current status of one area, with everything needed to explain its level."""

    model_config = WIRE_MODEL_CONFIG

    area_code: str = Field(examples=["64.71"])
    area_level: StatusAreaLevel
    area_name: str = Field(min_length=1, examples=["Kota Balikpapan"])
    level: StatusLevel
    previous_level: StatusLevel | None = None
    score: NonNegativeFloat
    counts_by_category: dict[Category, Count] = Field(default_factory=dict)
    counts_by_severity: dict[SeverityKey, Count] = Field(default_factory=dict)
    open_incidents: Count = 0
    last_report_at: Timestamp | None = None
    last_check_in_at: Timestamp | None = None
    top_reports: tuple[TopReport, ...] = ()
    level_changed_at: Timestamp
    change_reason: str = Field(max_length=2000, description="why the level last changed")
    updated_at: Timestamp
    schema_version: int = Field(default=STATUS_SCHEMA_VERSION, strict=True, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _known_version(cls, data: Any) -> Any:
        reject_newer_schema_version(data, STATUS_SCHEMA_VERSION, cls.__name__)
        return data

    @model_validator(mode="after")
    def _code_matches_level(self) -> AreaStatus:
        if level_of_code(self.area_code) is not self.area_level:
            message = f"{self.area_code!r} is not a {self.area_level} code"
            raise field_error(
                type(self).__name__, ("area_code",), "area_code_level", message, self.area_code
            )
        return self
