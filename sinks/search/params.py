"""Search parameters as people type them (HTTP query string or CLI options) -> a typed request.

Shared by ``GET /v1/search`` and ``sitrep search`` so both accept and reject exactly the same
input. Every problem raises ``InvalidParameter`` with a message code (sinks.i18n).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas.registry import AreaLevel, AreaRegistry, level_of_code
from schemas.report import Category, OperationPhase, ReportKind, ReportSource
from sinks.search.query import ParsedQuery, QuerySyntaxError, analyse_query
from sitrep.morphology import Stemmer

TIMEZONE_ALIASES: Final = {
    "WIB": "Asia/Jakarta",
    "WITA": "Asia/Makassar",
    "WIT": "Asia/Jayapura",
    "UTC": "UTC",
    "Z": "UTC",
}


class SortOrder(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"
    OLDEST = "oldest"
    SEVERITY = "severity"


class Interval(StrEnum):
    AUTO = "auto"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class InvalidParameter(ValueError):
    """``name`` is the parameter; ``code``/``params`` the message (sinks.i18n)."""

    def __init__(self, name: str, code: str, **params: Any) -> None:
        self.name = name
        self.code = code
        self.params = params
        super().__init__(f"{name}: {code} {params}")


class InvalidQuery(ValueError):
    def __init__(self, error: QuerySyntaxError) -> None:
        self.error = error
        super().__init__(str(error))


@dataclass(frozen=True)
class Filters:
    regency: tuple[str, ...] = ()
    kecamatan: tuple[str, ...] = ()
    village: tuple[str, ...] = ()
    category: tuple[Category, ...] = ()
    kind: tuple[ReportKind, ...] = ()
    phase: tuple[OperationPhase, ...] = ()
    source: tuple[ReportSource, ...] = ()
    reporter_unit: tuple[str, ...] = ()
    incident_id: tuple[str, ...] = ()
    severity_min: int | None = None
    severity_max: int | None = None
    start: datetime | None = None  # inclusive, timezone-aware
    end: datetime | None = None  # exclusive, timezone-aware


@dataclass(frozen=True)
class SearchRequest:
    query: ParsedQuery = field(default_factory=lambda: analyse_query(""))
    filters: Filters = field(default_factory=Filters)
    sort: SortOrder = SortOrder.NEWEST
    size: int = 20
    cursor: tuple[Any, ...] | None = None
    facets: bool = True
    interval: Interval = Interval.AUTO
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Makassar"))


RawParams = Mapping[str, Sequence[str]]
"""Parameter name -> the values given (repeated and/or comma-separated)."""

E = TypeVar("E", bound=StrEnum)


def _values(raw: RawParams, name: str) -> list[str]:
    out: list[str] = []
    for value in raw.get(name, ()):
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def _single(raw: RawParams, name: str) -> str | None:
    values = [v.strip() for v in raw.get(name, ()) if v.strip()]
    return values[-1] if values else None


def _enums(raw: RawParams, name: str, enum: type[E]) -> tuple[E, ...]:
    result = []
    for value in _values(raw, name):
        try:
            result.append(enum(value.lower()))
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            raise InvalidParameter(name, "unknown_value", value=value, allowed=allowed) from None
    return tuple(dict.fromkeys(result))


def _int(raw: RawParams, name: str, low: int, high: int, default: int | None) -> int | None:
    value = _single(raw, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidParameter(name, "not_a_number", value=value) from None
    if not low <= number <= high:
        raise InvalidParameter(name, "out_of_range", low=low, high=high)
    return number


def resolve_timezone(value: str | None, default: str) -> ZoneInfo:
    name = value or default
    try:
        return ZoneInfo(TIMEZONE_ALIASES.get(name.upper(), name))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidParameter("tz", "unknown_timezone", value=name) from None


def parse_time(value: str, zone: ZoneInfo, name: str, end: bool) -> datetime:
    """A point in time from a date, a local time or an RFC 3339 time with offset.

    A bare date means its whole day: the start of it for ``from``, the end for ``to``. Times
    without an offset are read in ``zone`` (the operation's local time unless ``tz`` says
    otherwise).
    """
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1 if end else 0), time(), zone)
            return moment
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(name, "bad_time", value=value) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


_AREA_LEVELS: Final = {
    "regency": AreaLevel.REGENCY,
    "kecamatan": AreaLevel.DISTRICT,
    "village": AreaLevel.VILLAGE,
}


def resolve_area(value: str, name: str, registry: AreaRegistry) -> str:
    """An area code from its code or its name (names must be unambiguous)."""
    level = _AREA_LEVELS[name]
    if level_of_code(value) is level:
        if registry.get(value) is None:
            raise InvalidParameter(name, "unknown_area", value=value, level=level.value)
        return value
    found = registry.find_by_name(value, level)
    if not found:
        raise InvalidParameter(name, "unknown_area", value=value, level=level.value)
    exact = [a for a in found if a.name.lower() == value.strip().lower()]
    candidates = exact or found
    if len(candidates) > 1:
        listed = ", ".join(f"{a.code} {a.name}" for a in candidates[:5])
        raise InvalidParameter(name, "ambiguous_area", value=value, candidates=listed)
    return candidates[0].code


def encode_cursor(sort: SortOrder, values: Sequence[Any]) -> str:
    payload = json.dumps({"s": sort.value, "v": list(values)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: SortOrder) -> tuple[Any, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        values = payload["v"]
        ok = payload["s"] == sort.value and isinstance(values, list) and 1 <= len(values) <= 4
        ok = ok and all(isinstance(v, str | int | float) for v in values)
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise InvalidParameter("cursor", "bad_cursor")
    return tuple(values)


def parse_search_request(
    raw: RawParams,
    registry: AreaRegistry,
    *,
    default_timezone: str,
    max_size: int,
    stemmer: Stemmer | None = None,
) -> SearchRequest:
    """Validate everything a caller sent; raises InvalidParameter or InvalidQuery."""
    zone = resolve_timezone(_single(raw, "tz"), default_timezone)
    try:
        query = analyse_query(_single(raw, "q") or "", stemmer)
    except QuerySyntaxError as exc:
        raise InvalidQuery(exc) from None
    severity_min = _int(raw, "severity_min", 1, 5, None)
    severity_max = _int(raw, "severity_max", 1, 5, None)
    if severity_min is not None and severity_max is not None and severity_min > severity_max:
        raise InvalidParameter(
            "severity_min", "severity_range", low=severity_min, high=severity_max
        )
    start_text, end_text = _single(raw, "from"), _single(raw, "to")
    start = parse_time(start_text, zone, "from", end=False) if start_text else None
    end = parse_time(end_text, zone, "to", end=True) if end_text else None
    if start is not None and end is not None and start >= end:
        raise InvalidParameter("from", "time_range", start=start.isoformat(), end=end.isoformat())
    filters = Filters(
        regency=tuple(resolve_area(v, "regency", registry) for v in _values(raw, "regency")),
        kecamatan=tuple(resolve_area(v, "kecamatan", registry) for v in _values(raw, "kecamatan")),
        village=tuple(resolve_area(v, "village", registry) for v in _values(raw, "village")),
        category=_enums(raw, "category", Category),
        kind=_enums(raw, "kind", ReportKind),
        phase=_enums(raw, "phase", OperationPhase),
        source=_enums(raw, "source", ReportSource),
        # Unit names contain commas rarely but spaces often: only repeated values split them.
        reporter_unit=tuple(v.strip() for v in raw.get("unit", ()) if v.strip()),
        incident_id=tuple(_values(raw, "incident_id")),
        severity_min=severity_min,
        severity_max=severity_max,
        start=start,
        end=end,
    )
    default_sort = SortOrder.RELEVANCE if query.tree is not None else SortOrder.NEWEST
    sort_value = _enums(raw, "sort", SortOrder)
    sort = sort_value[-1] if sort_value else default_sort
    interval_value = _enums(raw, "interval", Interval)
    cursor_text = _single(raw, "cursor")
    return SearchRequest(
        query=query,
        filters=filters,
        sort=sort,
        size=_int(raw, "size", 1, max_size, 20) or 20,
        cursor=decode_cursor(cursor_text, sort) if cursor_text else None,
        facets=(_single(raw, "facets") or "true").lower() not in ("0", "false", "no"),
        interval=interval_value[-1] if interval_value else Interval.AUTO,
        timezone=zone,
    )
