"""The audit trail of the web service: every acknowledgement, silence and export, with who
(name, role, how they authenticated), what and when.

Each record is a log line (event ``audit``) and a record on ``sitrep.audit`` keyed by the
user. Writing to Kafka is part of the action: if the record cannot be written the request
fails (503), so there is no unrecorded export.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import Request

from schemas.audit import AuditAction, AuditRecord
from sinks.web.auth import Caller
from sinks.web.errors import ApiProblem
from sitrep.audit import write_audit
from sitrep.settings import Settings

__all__ = ["audit_record", "client_address", "record_audit", "security_log", "web_producer"]


def security_log() -> Any:
    """Logins and the audit trail. Looked up per use rather than cached at import: these
    lines are evidence, and tests capture them (structlog.testing.capture_logs) whatever the
    process configured before."""
    return structlog.get_logger("sinks.web.audit")


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "-"


def web_producer(request: Request) -> Any:
    """The web process's Kafka producer, or a 503 when no broker answers."""
    try:
        return request.app.state.kafka.producer()
    except Exception as exc:  # kafka-python raises several types when no broker answers
        raise ApiProblem(503, "kafka_unavailable", error=str(exc)) from None


def audit_record(
    caller: Caller, action: AuditAction, target: str, at: datetime, detail: str | None = None
) -> AuditRecord:
    return AuditRecord(
        user=caller.name,
        role=caller.role.value,
        via=caller.via.value,
        action=action,
        target=target,
        at=at,
        detail=detail,
    )


def record_audit(
    request: Request,
    caller: Caller,
    action: AuditAction,
    target: str,
    detail: str | None = None,
) -> AuditRecord:
    record = audit_record(caller, action, target, datetime.now(UTC), detail)
    security_log().info(
        "audit",
        user=record.user,
        role=record.role,
        via=record.via,
        action=record.action.value,
        target=record.target,
        at=record.at.isoformat(),
        detail=record.detail,
        client=client_address(request),
    )
    settings: Settings = request.app.state.settings
    producer = web_producer(request)
    try:
        write_audit(producer, settings.kafka.topics.audit, record)
    except Exception as exc:  # a broker that went away between the action and its record
        security_log().error("audit record not written", action=record.action.value, error=str(exc))
        raise ApiProblem(503, "kafka_unavailable", error=str(exc)) from None
    return record
