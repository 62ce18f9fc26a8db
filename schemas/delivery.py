"""Notification delivery records: one per attempt, on ``sitrep.deliveries``.

Keyed by the notification key (``schemas.alert.notification_key``). The notifier reads them
back at start: a key with a final record (delivered, silenced, suppressed) is never sent again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, Field, model_validator

from schemas.alert import AlertChange, AlertState, AlertTier
from schemas.common import (
    WIRE_MODEL_CONFIG,
    Identifier,
    Timestamp,
    reject_newer_schema_version,
)

__all__ = ["DELIVERY_SCHEMA_VERSION", "DONE_STATUSES", "Delivery", "DeliveryStatus"]

DELIVERY_SCHEMA_VERSION: Final = 1

ShortText = Annotated[str, Field(min_length=1, max_length=256)]


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    RETRYING = "retrying"  # this attempt failed, another one follows
    FAILED = "failed"  # the last attempt failed (or the failure cannot be retried)
    SILENCED = "silenced"  # muted by a silence: not sent
    SUPPRESSED = "suppressed"  # held back by a firing provincial alert of the same rule

    @property
    def final(self) -> bool:
        return self is not DeliveryStatus.RETRYING


DONE_STATUSES: Final = frozenset(
    {DeliveryStatus.DELIVERED, DeliveryStatus.SILENCED, DeliveryStatus.SUPPRESSED}
)
"""Statuses after which a notification key is never attempted again (also across restarts)."""


class Delivery(BaseModel):
    """One attempt to notify a channel of one (alert, state, tier)."""

    model_config = WIRE_MODEL_CONFIG

    notification_key: Annotated[str, Field(min_length=1, max_length=512)]
    alert_id: Identifier
    rule_id: Identifier
    channel: Identifier
    recipients: tuple[ShortText, ...] = ()
    state: AlertState
    tier: AlertTier
    change: AlertChange
    attempt: int = Field(ge=0, strict=True, description="1-based; 0 = nothing was sent")
    status: DeliveryStatus
    error: Annotated[str, Field(max_length=2000)] | None = None
    http_status: int | None = Field(default=None, ge=100, le=599)
    at: Timestamp
    latency_ms: float | None = Field(
        default=None, ge=0, description="alert updated_at -> this attempt finished"
    )
    silence_id: Identifier | None = None
    suppressed_by: Identifier | None = Field(default=None, description="the parent alert id")
    schema_version: int = Field(default=DELIVERY_SCHEMA_VERSION, strict=True, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _known_version(cls, data: Any) -> Any:
        reject_newer_schema_version(data, DELIVERY_SCHEMA_VERSION, cls.__name__)
        return data
