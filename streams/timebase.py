"""Event time in whole minutes since the Unix epoch: the grain of windows, decay and levels."""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo

__all__ = ["at_minute", "at_second", "minute_of", "minute_of_seconds"]


def minute_of(moment: datetime) -> int:
    """The minute a time falls in (floor), for an aware datetime."""
    return math.floor(moment.timestamp() / 60)


def minute_of_seconds(epoch_seconds: float) -> int:
    return math.floor(epoch_seconds / 60)


def at_minute(minute: int, zone: tzinfo = UTC) -> datetime:
    """Start of a minute as an aware datetime in ``zone``."""
    return datetime.fromtimestamp(minute * 60, zone)


def at_second(epoch_seconds: float, zone: tzinfo = UTC) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, zone)
