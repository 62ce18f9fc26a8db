"""Audit records of the web service: who acknowledged, silenced or exported what, when.

On ``sitrep.audit`` (kept forever), keyed by the user's name, and as a log line with the same
fields. Written by the web service after the action succeeded (before, for an export).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, Field, model_validator

from schemas.common import WIRE_MODEL_CONFIG, Timestamp, reject_newer_schema_version

__all__ = ["AUDIT_SCHEMA_VERSION", "AuditAction", "AuditRecord"]

AUDIT_SCHEMA_VERSION: Final = 1


class AuditAction(StrEnum):
    ACKNOWLEDGE = "alert.acknowledge"
    SILENCE_ADD = "silence.add"
    SILENCE_REMOVE = "silence.remove"
    EXPORT = "search.export"
    OPERATOR_ADD = "operator.add"
    OPERATOR_REVOKE = "operator.revoke"


class AuditRecord(BaseModel):
    model_config = WIRE_MODEL_CONFIG

    user: Annotated[str, Field(min_length=1, max_length=128)]
    role: Annotated[str, Field(pattern=r"^[a-z]+$", description="viewer ... admin")]
    via: Annotated[
        str, Field(pattern=r"^[a-z]+$", description="token, session, header or anonymous")
    ]
    action: AuditAction
    target: Annotated[
        str, Field(max_length=4000, description="alert id, silence id or the export's query")
    ]
    at: Timestamp
    detail: Annotated[str, Field(max_length=4000)] | None = None
    schema_version: int = Field(default=AUDIT_SCHEMA_VERSION, strict=True, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _known_version(cls, data: Any) -> Any:
        reject_newer_schema_version(data, AUDIT_SCHEMA_VERSION, cls.__name__)
        return data
