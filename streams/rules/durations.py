"""Durations in rule files ("30m", "2h", "1d"): whole minutes, the grain of event time."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import BeforeValidator

__all__ = ["Duration", "describe_minutes", "parse_minutes"]

_DURATION: Final = re.compile(r"^\s*(\d+)\s*(m|h|d)\s*$")
_MINUTES_PER_UNIT: Final = {"m": 1, "h": 60, "d": 24 * 60}
MAX_MINUTES: Final = 31 * 24 * 60


def parse_minutes(value: Any) -> int:
    """``"45m"``, ``"6h"``, ``"2d"`` (or a whole number of minutes) as minutes, 1 … 31 days."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        if seconds % 60:
            raise ValueError(f"{value} is not a whole number of minutes")
        minutes = int(seconds // 60)
    elif isinstance(value, int) and not isinstance(value, bool):
        minutes = value
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"{value!r} is not a duration like 30m, 6h or 2d")
        minutes = int(match.group(1)) * _MINUTES_PER_UNIT[match.group(2)]
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"{value!r} must be between 1 minute and 31 days")
    return minutes


Duration = Annotated[int, BeforeValidator(parse_minutes)]
"""A duration field of a rule: parsed to whole minutes."""


_UNITS: Final = {
    "id": (("hari", 24 * 60), ("jam", 60), ("menit", 1)),
    "en": (("day", 24 * 60), ("hour", 60), ("minute", 1)),
}


def describe_minutes(minutes: int, lang: str) -> str:
    """``90`` -> "1 jam 30 menit" / "1 hour 30 minutes"."""
    parts: list[str] = []
    rest = minutes
    for name, size in _UNITS[lang]:
        count, rest = divmod(rest, size)
        if count:
            plural = "s" if lang == "en" and count > 1 else ""
            parts.append(f"{count} {name}{plural}")
    return " ".join(parts) or ("0 menit" if lang == "id" else "0 minutes")
