"""Turning raw input (a JSON document, a CSV row) into a validated report or a rejection.

Pure functions shared by every way a report enters the system (HTTP intake, file producer,
simulator), so a report is judged the same way whichever door it came through.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from pydantic import ValidationError

from schemas.common import ValidationProblem, validation_problems
from schemas.deadletter import (
    DeadLetter,
    Reason,
    Stage,
    guess_identity,
    identity_of,
    make_dead_letter,
)
from schemas.registry import AreaRegistry
from schemas.report import (
    MAX_FUTURE_SKEW,
    REGISTRY_CONTEXT_KEY,
    REPORT_SCHEMA_VERSION,
    FieldReport,
    ReportSource,
    report_to_json_bytes,
)

# Fields the intake sets itself: excluded from the content fingerprint, so a client that
# re-sends a report gets the same fingerprint although the server stamps it again.
SERVER_SET_FIELDS: Final = frozenset({"received_at", "reporter"})

# CSV cells are text; these wire fields are numbers.
_INTEGER_FIELDS: Final = frozenset({"severity", "schema_version"})
_FLOAT_FIELDS: Final = frozenset({"location.lat", "location.lon"})


@dataclass(frozen=True)
class Rejection:
    """Why one input was not accepted, ready to become a dead-letter record or an HTTP error."""

    reason: Reason
    problems: tuple[ValidationProblem, ...]
    raw: bytes
    report_id: str | None = None
    district: str | None = None
    line: int | None = None

    def dead_letter(self, *, stage: Stage, source: str, at: datetime) -> DeadLetter:
        return make_dead_letter(
            stage=stage,
            reason=self.reason,
            source=source,
            raw=self.raw,
            at=at,
            errors=list(self.problems),
            report_id=self.report_id,
            district=self.district,
            line=self.line,
        )


class Outbound(NamedTuple):
    """A validated report ready for Kafka: its id, its key (regency) and its wire bytes.

    A NamedTuple: it crosses process borders (``ValidationPool``) many thousand times a second,
    and tuples pickle an order of magnitude faster than dataclasses.
    """

    report_id: str
    district: str
    value: bytes

    @classmethod
    def of(cls, report: FieldReport) -> Outbound:
        return cls(report.report_id, report.district, report_to_json_bytes(report))


@dataclass(frozen=True)
class Defaults:
    """Values filled in when the input leaves them out (never overriding what it says).

    ``refuse_future_received``: a report whose own received_at is more than MAX_FUTURE_SKEW
    after this process's clock is rejected (a file written by a clock years ahead would move
    the worker's stream time there, and every later report would be dropped as too late).
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    refuse_future_received: bool = False

    def apply(self, document: dict[str, Any]) -> dict[str, Any]:
        missing = {k: v for k, v in self.values.items() if document.get(k) in (None, "")}
        return {**document, **missing} if missing else document

    def check(self, report: FieldReport, raw: bytes, line: int | None) -> FieldReport | Rejection:
        if not self.refuse_future_received:
            return report
        now = datetime.now(UTC)
        if report.received_at <= now + MAX_FUTURE_SKEW:
            return report
        message = (
            f"received_at ({report.received_at.isoformat()}) is after this producer's clock "
            f"({now.isoformat(timespec='seconds')}); check the clock that wrote the file"
        )
        return Rejection(
            Reason.VALIDATION_FAILED,
            (problem("received_at", message, "received_in_future"),),
            raw,
            report_id=report.report_id,
            district=report.district,
            line=line,
        )


def file_defaults(received_at: datetime) -> Defaults:
    """What a file row may leave out: when it arrived, that it came from a file."""
    return Defaults(
        {
            "received_at": received_at.isoformat(),
            "source": ReportSource.FILE.value,
            "schema_version": REPORT_SCHEMA_VERSION,
        },
        refuse_future_received=True,
    )


def problem(path: str, message: str, kind: str) -> ValidationProblem:
    return ValidationProblem(path=path, message=message, type=kind)


def decode_json(raw: bytes, *, line: int | None = None) -> dict[str, Any] | Rejection:
    """One JSON object from ``raw``, or a rejection saying why it is not one."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        problems = (problem("", f"not valid JSON: {exc}", "invalid_json"),)
        return Rejection(Reason.INVALID_JSON, problems, raw, line=line)
    except RecursionError:  # e.g. 100,000 nested arrays: no report is nested that deep
        problems = (problem("", "not valid JSON: nested too deeply", "invalid_json"),)
        return Rejection(Reason.INVALID_JSON, problems, raw, line=line)
    if not isinstance(document, dict):
        message = f"expected a JSON object (one report), got {type(document).__name__}"
        return Rejection(
            Reason.INVALID_JSON, (problem("", message, "invalid_json"),), raw, line=line
        )
    return document


def validate(
    document: Mapping[str, Any],
    raw: bytes,
    registry: AreaRegistry,
    *,
    line: int | None = None,
) -> FieldReport | Rejection:
    """The document as a FieldReport, or a rejection carrying every validation problem."""
    try:
        return FieldReport.model_validate(document, context={REGISTRY_CONTEXT_KEY: registry})
    except ValidationError as exc:
        identity = guess_identity(raw) or _identity(document)
        return Rejection(
            Reason.VALIDATION_FAILED,
            tuple(validation_problems(exc)),
            raw,
            report_id=identity.get("report_id"),
            district=identity.get("district"),
            line=line,
        )


def parse_json_line(
    raw: bytes, registry: AreaRegistry, defaults: Defaults, *, line: int | None = None
) -> FieldReport | Rejection:
    """A JSON Lines line: decode, fill defaults, validate."""
    document = decode_json(raw, line=line)
    if isinstance(document, Rejection):
        return document
    result = validate(defaults.apply(document), raw, registry, line=line)
    return result if isinstance(result, Rejection) else defaults.check(result, raw, line)


def _identity(document: Mapping[str, Any]) -> dict[str, str]:
    return identity_of(dict(document))


# --- CSV ---------------------------------------------------------------------------------------


def unflatten_row(row: Mapping[str | None, str | None]) -> dict[str, Any] | list[ValidationProblem]:
    """A CSV row with dotted headers (``location.lat``, ``reporter.unit``) as a nested document.

    Empty cells mean "absent". Numeric wire fields are converted from text; a cell that is not
    a number is reported (with its column) instead of being passed on as a string.
    """
    document: dict[str, Any] = {}
    problems: list[ValidationProblem] = []
    for header, cell in row.items():
        if header is None or cell is None or cell.strip() == "":
            continue
        name = header.strip()
        value: Any = cell.strip()
        if name in _INTEGER_FIELDS:
            value = _number(value, int, name, problems)
        elif name in _FLOAT_FIELDS:
            value = _number(value, float, name, problems)
        parts = name.split(".")
        target = document
        for part in parts[:-1]:
            nested = target.setdefault(part, {})
            if not isinstance(nested, dict):
                problems.append(problem(name, f"column {name!r} clashes with {part!r}", "csv"))
                break
            target = nested
        else:
            target[parts[-1]] = value
    return problems if problems else document


def _number(
    text: str, kind: type[int] | type[float], name: str, out: list[ValidationProblem]
) -> Any:
    try:
        return kind(text)
    except ValueError:
        label = "a whole number" if kind is int else "a number"
        out.append(problem(name, f"{text!r} is not {label}", f"{kind.__name__}_parsing"))
        return text


def parse_csv_row(
    row: Mapping[str | None, str | None],
    raw: bytes,
    registry: AreaRegistry,
    defaults: Defaults,
    *,
    line: int | None = None,
) -> FieldReport | Rejection:
    """A CSV row (already split by the csv module): unflatten, fill defaults, validate."""
    if None in row:  # more cells than headers: the row is misaligned, its values unreliable
        message = "row has more cells than the header has columns"
        return Rejection(Reason.VALIDATION_FAILED, (problem("", message, "csv"),), raw, line=line)
    document = unflatten_row(row)
    if isinstance(document, list):
        identity = _identity({k: v for k, v in row.items() if k is not None and isinstance(v, str)})
        return Rejection(
            Reason.VALIDATION_FAILED,
            tuple(document),
            raw,
            report_id=identity.get("report_id"),
            district=identity.get("district"),
            line=line,
        )
    result = validate(defaults.apply(document), raw, registry, line=line)
    return result if isinstance(result, Rejection) else defaults.check(result, raw, line)


# --- duplicates --------------------------------------------------------------------------------


def content_fingerprint(report: FieldReport) -> str:
    """sha256 over what the sender said (not what the server stamped): equal iff same content.

    pydantic serialises fields in declaration order, so the bytes are canonical.
    """
    content = report.model_dump_json(exclude=set(SERVER_SET_FIELDS), exclude_none=True)
    return hashlib.sha256(content.encode()).hexdigest()
