"""Writing audit records (who acknowledged, silenced or exported what) to ``sitrep.audit``.

Shared by the web service and the ``sitrep alerts`` command line, so every door leaves the same
trail. The record is written synchronously: an action whose record cannot be written fails.
"""

from __future__ import annotations

from typing import Any, Final

from schemas.audit import AuditRecord

SEND_TIMEOUT_S: Final = 30.0


def write_audit(producer: Any, topic: str, record: AuditRecord) -> None:
    """Send ``record`` keyed by its user and wait for Kafka's acknowledgement (raises if none)."""
    future = producer.send(
        topic,
        key=record.user.encode("utf-8"),
        value=record.model_dump_json(exclude_none=True).encode("utf-8"),
    )
    producer.flush(timeout=SEND_TIMEOUT_S)
    future.get(timeout=SEND_TIMEOUT_S)
