"""Writing dead-letter records to Kafka: one thin adapter every stage uses."""

from __future__ import annotations

from typing import Any

import structlog

from schemas.deadletter import DeadLetter

log = structlog.get_logger("sitrep.deadletter")


class DeadLetterWriter:
    """Sends ``DeadLetter`` records with an acks=all idempotent kafka-python producer.

    Keyed by district when known (so an area's rejects stay in order), else by stage.
    ``send`` returns the kafka-python future; call ``flush`` before reporting success.
    """

    def __init__(self, producer: Any, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    def send(self, record: DeadLetter) -> Any:
        key = (record.district or record.stage.value).encode()
        value = record.model_dump_json(exclude_none=True).encode()
        log.info(
            "dead-lettered",
            stage=record.stage.value,
            reason=record.reason.value,
            source=record.source,
            report_id=record.report_id,
            errors=len(record.errors),
        )
        return self._producer.send(self._topic, key=key, value=value)

    def flush(self, timeout_s: float | None = None) -> None:
        self._producer.flush(timeout=timeout_s)
