"""Kafka record -> what to do with it: bulk actions, or a dead-letter record (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import ValidationError

from schemas.alert import Alert
from schemas.common import ValidationProblem, validation_problems
from schemas.deadletter import DeadLetter, Origin, Reason, Stage, guess_identity, make_dead_letter
from schemas.registry import AreaRegistry
from schemas.report import parse_report
from schemas.status import AreaStatus
from sinks.documents import (
    BulkAction,
    alert_action,
    report_action,
    status_actions,
    status_tombstone,
)
from sinks.es.names import IndexNames
from sitrep.morphology import Stemmer


class TopicKind(StrEnum):
    REPORTS = "reports"
    STATUS = "status"
    ALERTS = "alerts"


@dataclass(frozen=True)
class Position:
    """Where a record sits in Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None

    def origin(self) -> Origin:
        key = self.key.decode("utf-8", "replace") if self.key is not None else None
        return Origin(topic=self.topic, partition=self.partition, offset=self.offset, key=key)


@dataclass(frozen=True)
class Planned:
    """One consumed record and its fate: bulk actions, or a dead letter, never neither
    (except a status tombstone for an unknown key, which is simply done)."""

    position: Position
    raw: bytes | None
    actions: tuple[BulkAction, ...] = ()
    dead_letter: DeadLetter | None = None
    traceparent: str | None = None  # only read when tracing is on (sitrep.tracing)

    @property
    def size(self) -> int:
        return len(self.raw or b"") + 64


@dataclass(frozen=True)
class PlanContext:
    names: IndexNames
    registry: AreaRegistry
    stemmer: Stemmer | None = None


def source_of(position: Position) -> str:
    return f"kafka:{position.topic}"


def _dead_letter(
    position: Position,
    raw: bytes | None,
    reason: Reason,
    errors: list[ValidationProblem],
    now: datetime,
) -> DeadLetter:
    payload = raw or b""
    identity = guess_identity(payload)
    return make_dead_letter(
        stage=Stage.INDEXER,
        reason=reason,
        source=source_of(position),
        raw=payload,
        at=now,
        errors=errors,
        report_id=identity.get("report_id"),
        district=identity.get("district"),
        origin=position.origin(),
    )


def _reject(
    position: Position,
    raw: bytes | None,
    reason: Reason,
    errors: list[ValidationProblem],
    now: datetime,
) -> Planned:
    return Planned(position, raw, dead_letter=_dead_letter(position, raw, reason, errors, now))


def _invalid(position: Position, raw: bytes, error: ValidationError, now: datetime) -> Planned:
    problems = validation_problems(error)
    reason = (
        Reason.INVALID_JSON
        if any(p["type"] == "json_invalid" for p in problems)
        else Reason.VALIDATION_FAILED
    )
    return _reject(position, raw, reason, problems, now)


def plan_record(
    kind: TopicKind,
    position: Position,
    raw: bytes | None,
    context: PlanContext,
    now: datetime,
) -> Planned:
    """Validate the record with its wire model and turn it into bulk actions.

    ``now`` is stamped as ``indexed_at`` (and on dead letters).
    """
    if raw is None:
        if kind is TopicKind.STATUS and position.key:
            area_code = position.key.decode("utf-8", "replace")
            return Planned(position, raw, actions=(status_tombstone(area_code, context.names),))
        problem = ValidationProblem(
            path="",
            message=f"empty record (tombstone) on the {kind.value} topic, which takes no deletes",
            type="tombstone",
        )
        return _reject(position, raw, Reason.VALIDATION_FAILED, [problem], now)
    try:
        if kind is TopicKind.REPORTS:
            report = parse_report(raw, context.registry)
            action = report_action(report, context.names, context.registry, now, context.stemmer)
            return Planned(position, raw, actions=(action,))
        if kind is TopicKind.STATUS:
            status = AreaStatus.model_validate_json(raw)
            return Planned(position, raw, actions=status_actions(status, context.names, now))
        alert = Alert.model_validate_json(raw)
        return Planned(position, raw, actions=(alert_action(alert, context.names, now),))
    except ValidationError as exc:
        return _invalid(position, raw, exc, now)


def index_rejected(planned: Planned, error: dict[str, object], now: datetime) -> DeadLetter:
    """Dead letter for a record whose document Elasticsearch refused (e.g. a mapping error)."""
    error_type = str(error.get("type", "unknown"))
    reason = str(error.get("reason", ""))
    caused_by = error.get("caused_by")
    if isinstance(caused_by, dict) and caused_by.get("reason"):
        reason = f"{reason}: {caused_by.get('type')}: {caused_by.get('reason')}"
    problem = ValidationProblem(path="", message=reason or error_type, type=error_type)
    return _dead_letter(planned.position, planned.raw, Reason.INDEX_REJECTED, [problem], now)
