"""Alerts raised by the rule engine: the record on ``sitrep.alerts``."""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, Field, model_validator

from schemas.common import (
    WIRE_MODEL_CONFIG,
    FieldProblem,
    Identifier,
    Matches,
    Timestamp,
    field_errors,
    reject_newer_schema_version,
)

__all__ = [
    "ALERT_SCHEMA_VERSION",
    "Alert",
    "AlertState",
    "AlertTier",
    "make_alert_id",
]

ALERT_SCHEMA_VERSION: Final = 1
ALERT_ID_PREFIX: Final = "alert"
_DIGEST_HEX_CHARS: Final = 24  # 96 bits: collisions are not a practical concern
_SLUG_MAX: Final = 40


class AlertState(StrEnum):
    """Lifecycle: firing → acknowledged → resolved (firing → resolved also allowed)."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertTier(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


def make_alert_id(rule_id: str, group_key: str, episode: str) -> str:
    """Deterministic alert id, so re-evaluating a rule after a restart cannot alert twice.

    ``episode`` identifies one occurrence: the window start as ISO text for windowed rules, or
    an episode key for state-based ones. Result: ``alert-<rule slug>-<24 hex of SHA-256>``,
    readable in logs and valid as an Elasticsearch _id and Kafka key.
    """
    for name, value in (("rule_id", rule_id), ("group_key", group_key), ("episode", episode)):
        if not value:
            raise ValueError(f"make_alert_id: {name} must not be empty")
    # JSON-encoding the triple keeps it unambiguous ("a|b","c" vs "a","b|c").
    payload = json.dumps([rule_id, group_key, episode], ensure_ascii=False).encode("utf-8")
    digest = hashlib.sha256(payload).hexdigest()[:_DIGEST_HEX_CHARS]
    return f"{ALERT_ID_PREFIX}-{_slug(rule_id)}-{digest}"


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:_SLUG_MAX].strip("-")
    return slug or "rule"


_RULE_TYPE_PATTERN: Final = r"^[a-z][a-z0-9_]{0,63}$"
RuleType = Annotated[
    str,
    Field(
        description="rule type, e.g. level, frequency, spike, flatline, keyword, proximity",
        examples=["frequency"],
    ),
    Matches(_RULE_TYPE_PATTERN, "must be a snake_case name, e.g. frequency"),
]
_AREA_CODE_PATTERN: Final = r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$"
AreaCode = Annotated[
    str,
    Field(examples=["64.71"]),
    Matches(_AREA_CODE_PATTERN, "must be a dotted Kemendagri area code, e.g. 64.71"),
]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
ShortText = Annotated[str, Field(min_length=1, max_length=256)]


class Alert(BaseModel):
    """One alert. The same alert_id is re-published as its state changes."""

    model_config = WIRE_MODEL_CONFIG

    alert_id: Identifier = Field(description="make_alert_id(rule_id, group_key, episode)")
    rule_id: Identifier
    rule_name: ShortText
    rule_type: RuleType
    state: AlertState
    tier: AlertTier
    area_code: AreaCode
    group_key: ShortText = Field(description="what the rule groups by, e.g. an area code")
    first_fired_at: Timestamp
    updated_at: Timestamp
    late: bool = Field(default=False, strict=True, description="fired from late-arriving data")
    message_id: Text = Field(description="message in Indonesian")
    message_en: Text = Field(description="message in English")
    evidence_report_ids: tuple[Identifier, ...] = ()
    acknowledged_by: ShortText | None = None
    acknowledged_at: Timestamp | None = None
    resolved_at: Timestamp | None = None
    schema_version: int = Field(default=ALERT_SCHEMA_VERSION, strict=True, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _known_version(cls, data: Any) -> Any:
        reject_newer_schema_version(data, ALERT_SCHEMA_VERSION, cls.__name__)
        return data

    @model_validator(mode="after")
    def _consistent_lifecycle(self) -> Alert:
        problems = _lifecycle_problems(self)
        if problems:
            raise field_errors(type(self).__name__, problems)
        return self


def _lifecycle_problems(alert: Alert) -> list[FieldProblem]:
    problems: list[FieldProblem] = []

    def problem(field: str, message: str) -> None:
        problems.append(((field,), "alert_lifecycle", message, getattr(alert, field)))

    if alert.updated_at < alert.first_fired_at:
        problem("updated_at", "must not be before first_fired_at")
    if alert.state is AlertState.ACKNOWLEDGED:
        for field in ("acknowledged_by", "acknowledged_at"):
            if getattr(alert, field) is None:
                problem(field, "required when state is acknowledged")
    elif (alert.acknowledged_by is None) != (alert.acknowledged_at is None):
        missing = "acknowledged_by" if alert.acknowledged_by is None else "acknowledged_at"
        problem(missing, "acknowledged_by and acknowledged_at go together")
    if alert.state is AlertState.RESOLVED and alert.resolved_at is None:
        problem("resolved_at", "required when state is resolved")
    if alert.state is not AlertState.RESOLVED and alert.resolved_at is not None:
        problem("resolved_at", f"must be empty while state is {alert.state}")
    return problems
