"""Alerts raised by the rule engine: the record on ``sitrep.alerts``."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
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
    "AlertAck",
    "AlertChange",
    "AlertRoute",
    "AlertState",
    "AlertTier",
    "Silence",
    "command_key",
    "make_alert_id",
    "notification_key",
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


class AlertChange(StrEnum):
    """What one record on ``sitrep.alerts`` announces; notifiers speak on all but ``update``."""

    FIRED = "fired"  # a new episode of the rule for the group
    ESCALATED = "escalated"  # same episode, warning -> critical
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    UPDATE = "update"  # evidence or measurement changed, nothing to tell anyone


def notification_key(alert_id: str, state: AlertState, tier: AlertTier, channel: str) -> str:
    """Idempotency key of one notification: each (alert, state, tier) reaches a channel once."""
    return f"{alert_id}/{state.value}/{tier.value}/{channel}"


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


class AlertRoute(BaseModel):
    """Who hears about an alert: a channel named in the notifier's configuration, and the
    recipients on it (chat ids, e-mail addresses; empty = the channel's default)."""

    model_config = WIRE_MODEL_CONFIG

    channel: Identifier
    recipients: tuple[ShortText, ...] = ()


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
    change: AlertChange = Field(default=AlertChange.FIRED, description="what this record announces")
    area_name: ShortText | None = Field(default=None, description="registry name of area_code")
    value: float | None = Field(default=None, description="the measured value that fired")
    threshold: float | None = Field(default=None, description="the tier's threshold it crossed")
    window_start: Timestamp | None = None
    window_end: Timestamp | None = None
    routes: tuple[AlertRoute, ...] = Field(default=(), description="channels for this tier")
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


class AlertAck(BaseModel):
    """An acknowledgement, on ``sitrep.alert-commands``; the worker that owns the alert's state
    applies it and publishes the acknowledged alert. Keyed by ``command_key`` of the alert."""

    model_config = WIRE_MODEL_CONFIG

    alert_id: Identifier
    area_code: AreaCode
    rule_type: RuleType
    acknowledged_by: ShortText
    acknowledged_at: Timestamp
    note: Text | None = None
    schema_version: int = Field(default=ALERT_SCHEMA_VERSION, strict=True, ge=1)


def command_key(alert: Alert | AlertAck) -> str:
    """Kafka key for commands about an alert: lands on the partition whose worker holds it.

    Level alerts follow ``sitrep.status`` (keyed by area code); all other rules follow
    ``sitrep.reports`` (keyed by regency code).
    """
    if alert.rule_type == "level":
        return alert.area_code
    return ".".join(alert.area_code.split(".")[:2])


class Silence(BaseModel):
    """Notifications matching rule and area are held back between starts_at and ends_at.

    On ``sitrep.silences`` (compacted, key = silence_id; a null value deletes). The alerts
    themselves still fire and are indexed: a silence mutes the channels only.
    """

    model_config = WIRE_MODEL_CONFIG

    silence_id: Identifier
    rule_id: Identifier | None = Field(default=None, description="None: every rule")
    area_code: AreaCode | None = Field(
        default=None, description="this area and every area inside it; None: everywhere"
    )
    starts_at: Timestamp
    ends_at: Timestamp
    created_by: ShortText
    created_at: Timestamp
    comment: Text | None = None
    schema_version: int = Field(default=ALERT_SCHEMA_VERSION, strict=True, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Silence:
        if self.ends_at <= self.starts_at:
            raise field_errors(
                type(self).__name__,
                [(("ends_at",), "silence_range", "must be after starts_at", self.ends_at)],
            )
        return self

    def mutes(self, alert: Alert, at: datetime) -> bool:
        if not self.starts_at <= at < self.ends_at:
            return False
        if self.rule_id is not None and self.rule_id != alert.rule_id:
            return False
        if self.area_code is None:
            return True
        return alert.area_code == self.area_code or alert.area_code.startswith(self.area_code + ".")
