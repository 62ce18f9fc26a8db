"""Alerts for the control room: list, acknowledge, silence (``/v1/alerts``, ``/v1/silences``).

Reading needs the ``analyst`` role, acknowledging and silencing ``commander`` (a login, an
operator token or the trusted proxy header: sinks/web/auth.py). Every acknowledgement and
silence is recorded on the audit trail with the caller's name and role.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.alert import Alert, AlertState, Silence
from schemas.audit import AuditAction
from sinks.alerts.desk import (
    AlertDesk,
    AlertNotFound,
    AlertResolved,
    current_silences,
    new_silence_id,
)
from sinks.es.names import IndexNames
from sinks.web.audit import record_audit, web_producer
from sinks.web.auth import Caller, require
from sinks.web.errors import ApiProblem
from sinks.web.operators import OperatorRole
from sitrep import clients
from sitrep.settings import Settings

router = APIRouter(prefix="/v1", tags=["alerts"])


class KafkaLink:
    """One producer for the web process, made on first use (search works without Kafka)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._producer: Any = None

    def producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                self._producer = clients.kafka_producer(self._settings, client_id="sitrep-web")
            return self._producer

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=10)
                self._producer = None


def _desk(request: Request) -> AlertDesk:
    settings: Settings = request.app.state.settings
    return AlertDesk(
        request.app.state.es,
        IndexNames(settings.indexer.index_prefix),
        web_producer(request),
        settings.kafka.topics,
    )


def _reader(request: Request) -> AlertDesk:
    settings: Settings = request.app.state.settings
    return AlertDesk(
        request.app.state.es, IndexNames(settings.indexer.index_prefix), None, settings.kafka.topics
    )


READERS = [Depends(require(OperatorRole.ANALYST))]
Commander = Annotated[Caller, Depends(require(OperatorRole.COMMANDER))]
AlertId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]


@router.get("/alerts", summary="Recent alerts, newest first", dependencies=READERS)
def list_alerts(
    request: Request,
    state: Annotated[list[AlertState] | None, Query()] = None,
    area: Annotated[str | None, Query(description="area code; includes areas inside it")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    alerts = _reader(request).recent(state or (), limit=limit, area_prefix=area)
    return {"alerts": [alert.model_dump(mode="json", exclude_none=True) for alert in alerts]}


@router.get("/alerts/{alert_id}", summary="One alert as last indexed", dependencies=READERS)
def get_alert(request: Request, alert_id: AlertId) -> dict[str, Any]:
    try:
        alert = _reader(request).find(alert_id)
    except AlertNotFound:
        raise ApiProblem(404, "alert_not_found", alert_id=alert_id) from None
    return alert.model_dump(mode="json", exclude_none=True)


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=4000)


@router.post(
    "/alerts/{alert_id}/ack",
    status_code=202,
    summary="Acknowledge an alert (commander)",
    responses={401: {}, 403: {}, 404: {}, 409: {"description": "already resolved"}},
)
def acknowledge(
    request: Request, alert_id: AlertId, caller: Commander, body: AckBody | None = None
) -> dict[str, Any]:
    desk = _desk(request)
    live = getattr(request.app.state, "live", None)
    known = live.board.alerts.get(alert_id) if live is not None else None
    try:
        ack = desk.acknowledge(
            alert_id,
            caller.name,
            datetime.now(UTC),
            body.note if body is not None else None,
            known=known,
        )
    except AlertNotFound:
        raise ApiProblem(404, "alert_not_found", alert_id=alert_id) from None
    except AlertResolved:
        raise ApiProblem(409, "alert_resolved", alert_id=alert_id) from None
    record_audit(request, caller, AuditAction.ACKNOWLEDGE, ack.alert_id, detail=ack.note)
    return {"accepted": True, **ack.model_dump(mode="json", exclude_none=True)}


class SilenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule_id: str | None = None
    area_code: str | None = None
    starts_at: datetime | None = Field(default=None, description="default: now")
    ends_at: datetime | None = None
    duration_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 90)
    comment: str | None = Field(default=None, max_length=4000)


def build_silence(body: SilenceBody, by: str, now: datetime) -> Silence:
    """The silence a request asks for; exactly one of ends_at and duration_minutes."""
    if (body.ends_at is None) == (body.duration_minutes is None):
        raise ApiProblem(422, "silence_end", detail="give ends_at or duration_minutes")
    starts = body.starts_at or now
    ends = body.ends_at or starts + timedelta(minutes=body.duration_minutes or 0)
    try:
        return Silence(
            silence_id=new_silence_id(now),
            rule_id=body.rule_id,
            area_code=body.area_code,
            starts_at=starts,
            ends_at=ends,
            created_by=by,
            created_at=now,
            comment=body.comment,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ApiProblem(422, "silence_invalid", detail=f"{where}: {first['msg']}") from None


@router.get("/silences", summary="Silences in force or scheduled", dependencies=READERS)
def list_silences(request: Request) -> dict[str, Any]:
    settings: Settings = request.app.state.settings

    def consumer() -> Any:
        return clients.kafka_consumer(settings, client_id="sitrep-web-silences")

    try:
        silences = current_silences(consumer, settings.kafka.topics.silences, datetime.now(UTC))
    except Exception as exc:  # no broker
        raise ApiProblem(503, "kafka_unavailable", error=str(exc)) from None
    return {"silences": [s.model_dump(mode="json", exclude_none=True) for s in silences]}


@router.post("/silences", status_code=201, summary="Silence notifications (commander)")
def add_silence(request: Request, body: SilenceBody, caller: Commander) -> dict[str, Any]:
    silence = build_silence(body, caller.name, datetime.now(UTC))
    _desk(request).add_silence(silence)
    record_audit(
        request, caller, AuditAction.SILENCE_ADD, silence.silence_id, silence_scope(silence)
    )
    return silence.model_dump(mode="json", exclude_none=True)


def silence_scope(silence: Silence) -> str:
    """What a silence mutes, for the audit trail."""
    return (
        f"rule={silence.rule_id or '*'} area={silence.area_code or '*'} "
        f"{silence.starts_at.isoformat()}/{silence.ends_at.isoformat()}"
    )


@router.delete("/silences/{silence_id}", status_code=204, summary="End a silence (commander)")
def remove_silence(request: Request, silence_id: AlertId, caller: Commander) -> Response:
    _desk(request).remove_silence(silence_id)
    record_audit(request, caller, AuditAction.SILENCE_REMOVE, silence_id)
    return Response(status_code=204)


__all__ = ["Alert", "KafkaLink", "build_silence", "router"]
