"""The dead-letter record: whatever a stage could not take, with the raw bytes and every reason.

Every process writes the same shape to ``sitrep.deadletter`` (DESIGN.md: "the raw bytes, the
source and every validation error"), so an operator can see, count and replay them in one place.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, Field

from schemas.common import WIRE_MODEL_CONFIG, Timestamp, ValidationProblem

DEADLETTER_SCHEMA_VERSION: Final = 1
# A dead letter must fit in one Kafka record (1 MiB by default, broker and producers), however
# big or broken the input: raw payloads above MAX_RAW_BYTES are cut (and marked), raw_text is
# left out when its JSON form would be too long (the bytes stay in raw_base64), and at most
# MAX_ERRORS errors, each with a bounded path and message, are kept. Worst case about 700 KB.
MAX_RAW_BYTES: Final = 256 * 1024
MAX_RAW_TEXT_JSON_BYTES: Final = 256 * 1024
MAX_ERRORS: Final = 100
_MAX_ERROR_FIELD: Final = 500


class Stage(StrEnum):
    """The process that gave up on the record."""

    INTAKE = "intake"
    PRODUCE = "produce"
    SIMULATE = "simulate"
    WORKER = "worker"
    INDEXER = "indexer"
    NOTIFIER = "notifier"


class Reason(StrEnum):
    """Why it was dead-lettered; one value per cause an operator would act on differently."""

    INVALID_JSON = "invalid_json"
    VALIDATION_FAILED = "validation_failed"
    UNAUTHORIZED_AREA = "unauthorized_area"
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    TOO_LATE = "too_late"
    INDEX_REJECTED = "index_rejected"
    DELIVERY_FAILED = "delivery_failed"


class Origin(BaseModel):
    """Where a record that had already reached Kafka came from."""

    model_config = WIRE_MODEL_CONFIG

    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key: str | None = None


class ProblemDetail(BaseModel):
    model_config = WIRE_MODEL_CONFIG

    path: str
    message: str
    type: str


class DeadLetter(BaseModel):
    model_config = WIRE_MODEL_CONFIG

    dead_letter_id: str = Field(
        description="sha256 of stage, source and raw bytes: same input, same id"
    )
    stage: Stage
    reason: Reason
    source: str = Field(
        description='where it came from, e.g. "http:Polres Balikpapan", "file:a.jsonl"'
    )
    errors: tuple[ProblemDetail, ...] = ()
    raw_base64: str = Field(description="the bytes as received (cut at MAX_RAW_BYTES)")
    raw_text: str | None = Field(
        default=None, description="the same bytes when they are UTF-8 and not too long"
    )
    raw_truncated: bool = False
    report_id: str | None = None
    district: str | None = None
    line: int | None = Field(default=None, ge=1, description="line number in a file")
    origin: Origin | None = None
    dead_lettered_at: Timestamp
    schema_version: int = Field(default=DEADLETTER_SCHEMA_VERSION, ge=1)


def make_dead_letter(
    *,
    stage: Stage,
    reason: Reason,
    source: str,
    raw: bytes,
    at: datetime,
    errors: list[ValidationProblem] | None = None,
    report_id: str | None = None,
    district: str | None = None,
    line: int | None = None,
    origin: Origin | None = None,
) -> DeadLetter:
    """Build the record; pure, so the same bad input always gives the same ``dead_letter_id``."""
    kept = raw[:MAX_RAW_BYTES]
    digest = hashlib.sha256(
        b"\0".join([stage.value.encode(), source.encode(), raw, str(line).encode()])
    )
    return DeadLetter(
        dead_letter_id=f"dl-{digest.hexdigest()[:32]}",
        stage=stage,
        reason=reason,
        source=source,
        errors=_bounded(errors or []),
        raw_base64=base64.b64encode(kept).decode("ascii"),
        raw_text=_text_if_small(kept),
        raw_truncated=len(raw) > len(kept),
        report_id=report_id,
        district=district,
        line=line,
        origin=origin,
        dead_lettered_at=at,
    )


def raw_bytes(record: DeadLetter) -> bytes:
    """The payload as it was received (for replay after a fix)."""
    return base64.b64decode(record.raw_base64)


def guess_identity(raw: bytes) -> dict[str, Any]:
    """report_id and district from a payload that failed validation, when they can be read."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError, TypeError):
        return {}
    if not isinstance(document, dict):
        return {}
    return identity_of(document)


def identity_of(document: dict[str, Any]) -> dict[str, str]:
    """report_id and district of a decoded document, when they are short, encodable strings
    (a lone surrogate such as "\\ud800" is valid JSON but cannot be written out again)."""
    return {
        key: value
        for key in ("report_id", "district")
        if isinstance(value := document.get(key), str) and len(value) <= 128 and _encodable(value)
    }


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utf8_or_none(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _text_if_small(raw: bytes) -> str | None:
    """The bytes as text, unless not UTF-8 or too long once escaped as JSON (control
    characters take six bytes each)."""
    text = _utf8_or_none(raw)
    if text is None or len(json.dumps(text, ensure_ascii=False).encode()) > MAX_RAW_TEXT_JSON_BYTES:
        return None
    return text


def _bounded(errors: list[ValidationProblem]) -> tuple[ProblemDetail, ...]:
    """The first MAX_ERRORS errors (paths and messages cut), and a note of how many were left."""

    def cut(text: str) -> str:
        return text if len(text) <= _MAX_ERROR_FIELD else text[:_MAX_ERROR_FIELD] + "..."

    kept = [
        ProblemDetail(path=cut(e["path"]), message=cut(e["message"]), type=cut(e["type"]))
        for e in errors[:MAX_ERRORS]
    ]
    if len(errors) > MAX_ERRORS:
        left = len(errors) - MAX_ERRORS
        message = f"{left} more error(s) not kept (at most {MAX_ERRORS} are)"
        kept.append(ProblemDetail(path="", message=message, type="errors_truncated"))
    return tuple(kept)
