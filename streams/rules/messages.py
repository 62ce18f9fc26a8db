"""Alert messages from a rule's templates, in Indonesian and English, times in local time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Final

from schemas.alert import AlertTier
from streams.rules.durations import describe_minutes
from streams.rules.model import Messages
from streams.timebase import at_minute

__all__ = ["MessageFacts", "format_number", "render_messages"]

MAX_MESSAGE: Final = 4000
_TIER_NAMES: Final = {
    "id": {AlertTier.WARNING: "PERINGATAN", AlertTier.CRITICAL: "KRITIS"},
    "en": {AlertTier.WARNING: "WARNING", AlertTier.CRITICAL: "CRITICAL"},
}
_LATE: Final = {"id": " (laporan terlambat)", "en": " (late report)"}


def format_number(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}"


def local_time(moment: datetime, zone: tzinfo) -> str:
    """``14/02 08:05 WITA``: day/month, hour:minute and the zone's abbreviation."""
    return moment.astimezone(zone).strftime("%d/%m %H:%M %Z").strip()


@dataclass(frozen=True)
class MessageFacts:
    """Everything a template may mention; ``extras`` are per language (id, en)."""

    rule_name: str
    area_name: str
    area_code: str
    tier: AlertTier
    value: float | None
    threshold: float | None
    count: int | None
    window_minutes: int | None
    window_start: int | None
    window_end: int | None
    at: datetime
    late: bool
    extras: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def _values(facts: MessageFacts, lang: str, zone: tzinfo) -> dict[str, str]:
    index = 0 if lang == "id" else 1

    def minute_text(minute: int | None) -> str:
        return "-" if minute is None else local_time(at_minute(minute, zone), zone)

    values = {
        "rule_name": facts.rule_name,
        "area_name": facts.area_name,
        "area_code": facts.area_code,
        "tier": _TIER_NAMES[lang][facts.tier],
        "value": format_number(facts.value),
        "threshold": format_number(facts.threshold),
        "count": "-" if facts.count is None else str(facts.count),
        "window": "-"
        if facts.window_minutes is None
        else describe_minutes(facts.window_minutes, lang),
        "window_start": minute_text(facts.window_start),
        "window_end": minute_text(facts.window_end),
        "time": local_time(facts.at, zone),
        "late": _LATE[lang] if facts.late else "",
    }
    values.update({name: pair[index] for name, pair in facts.extras.items()})
    return values


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "-"


def render_messages(messages: Messages, facts: MessageFacts, zone: tzinfo) -> tuple[str, str]:
    """(Indonesian, English); placeholders were checked when the rules were loaded."""
    rendered = []
    for lang in ("id", "en"):
        template: str = getattr(messages, lang)
        text = template.format_map(_Blank(_values(facts, lang, zone))).strip()
        rendered.append((text or facts.rule_name)[:MAX_MESSAGE])
    return rendered[0], rendered[1]
