"""Wire records -> Elasticsearch documents and bulk actions (pure).

Idempotency and ordering:

* reports: ``_id`` = report_id; a replay overwrites the document with the same content.
* current status: ``_id`` = area code, ``version_type=external`` with
  ``version = updated_at`` in epoch milliseconds. Elasticsearch keeps the highest version, so
  an older status record that arrives late never overwrites a newer one; an equal version (the
  same record replayed) is a no-op. Both come back as 409 and count as success.
* status history: ``_id`` = ``<area code>@<updated_at ms>``, appended to the month's index.
* alerts: ``_id`` = alert_id, external version = ``updated_at`` in epoch milliseconds, so the
  state only moves forward (firing -> acknowledged -> resolved).

Documents are the record's own JSON (serialised by pydantic) with derived fields appended, kept
as bytes: the bulk body is assembled without another round of ``json.dumps``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from schemas.alert import Alert
from schemas.registry import AreaRegistry
from schemas.report import FieldReport
from schemas.status import AreaStatus
from sinks.es.names import IndexNames
from sitrep.morphology import Stemmer, stem_text

WIRE_REPORT_FIELDS = frozenset(FieldReport.model_fields)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BulkAction:
    """One bulk operation, plus what a dead-letter record needs if Elasticsearch rejects it."""

    op: Literal["index", "delete"]
    index: str
    doc_id: str
    document: bytes | None = None  # the _source as UTF-8 JSON
    version: int | None = None  # external version, for records that must not go backwards
    report_id: str | None = None
    district: str | None = None

    @property
    def versioned(self) -> bool:
        return self.version is not None

    @property
    def source(self) -> dict[str, Any] | None:
        parsed: dict[str, Any] | None = json.loads(self.document) if self.document else None
        return parsed

    def header(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"_index": self.index, "_id": self.doc_id}
        if self.version is not None:
            meta["version"] = self.version
            meta["version_type"] = "external"
        return {self.op: meta}


def epoch_ms(at: datetime) -> int:
    """Whole milliseconds since the epoch, exact (no float rounding)."""
    return (at - _EPOCH) // timedelta(milliseconds=1)


@functools.lru_cache(maxsize=64)  # one indexed_at is stamped on every record of a poll
def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _with_fields(record: BaseModel, extra: dict[str, Any]) -> bytes:
    """The record's wire JSON (absent optionals omitted) with ``extra`` fields appended."""
    wire = record.model_dump_json(exclude_none=True)
    if not extra:
        return wire.encode("utf-8")
    appended = json.dumps(extra, ensure_ascii=False, separators=(",", ":"))
    return f"{wire[:-1]},{appended[1:]}".encode()


def report_document_json(
    report: FieldReport,
    registry: AreaRegistry,
    indexed_at: datetime,
    stemmer: Stemmer | None = None,
) -> bytes:
    """The wire report as-is, plus area names, the Python-stemmed text and when it was indexed."""
    extra: dict[str, Any] = {"province": report.district.split(".")[0]}
    for code, name_field in (
        (report.district, "regency_name"),
        (report.subdistrict, "subdistrict_name"),
        (report.village, "village_name"),
    ):
        area = registry.get(code) if code else None
        if area is not None:
            extra[name_field] = area.name
    extra["text_stem"] = stem_text(report.text, stemmer)
    extra["indexed_at"] = _iso(indexed_at)
    return _with_fields(report, extra)


def report_document(
    report: FieldReport,
    registry: AreaRegistry,
    indexed_at: datetime,
    stemmer: Stemmer | None = None,
) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        report_document_json(report, registry, indexed_at, stemmer)
    )
    return document


def wire_report_fields(document: dict[str, Any]) -> dict[str, Any]:
    """The FieldReport fields of a stored document (to rebuild it with newer derived fields)."""
    return {k: v for k, v in document.items() if k in WIRE_REPORT_FIELDS}


def report_action(
    report: FieldReport,
    names: IndexNames,
    registry: AreaRegistry,
    indexed_at: datetime,
    stemmer: Stemmer | None = None,
) -> BulkAction:
    return BulkAction(
        op="index",
        index=names.report_index(report.occurred_at),
        doc_id=report.report_id,
        document=report_document_json(report, registry, indexed_at, stemmer),
        report_id=report.report_id,
        district=report.district,
    )


def _status_extra(status: AreaStatus, indexed_at: datetime) -> dict[str, Any]:
    parts = status.area_code.split(".")
    extra: dict[str, Any] = {"province": parts[0]}
    if len(parts) > 1:
        extra["parent_code"] = ".".join(parts[:-1])
    if status.level.rank is not None:
        extra["level_rank"] = status.level.rank
    extra["indexed_at"] = _iso(indexed_at)
    return extra


def status_document(status: AreaStatus, indexed_at: datetime) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_with_fields(status, _status_extra(status, indexed_at)))
    return document


def status_actions(
    status: AreaStatus, names: IndexNames, indexed_at: datetime
) -> tuple[BulkAction, BulkAction]:
    """The current status (never overwritten by an older record) and its history entry."""
    document = _with_fields(status, _status_extra(status, indexed_at))
    version = epoch_ms(status.updated_at)
    parts = status.area_code.split(".")
    district = ".".join(parts[:2]) if len(parts) >= 2 else None
    current = BulkAction(
        op="index",
        index=names.status,
        doc_id=status.area_code,
        document=document,
        version=version,
        district=district,
    )
    history = BulkAction(
        op="index",
        index=names.status_history_index(status.updated_at),
        doc_id=f"{status.area_code}@{version}",
        document=document,
        district=district,
    )
    return current, history


def status_tombstone(area_code: str, names: IndexNames) -> BulkAction:
    """A null value on the compacted status topic removes the area's current status."""
    return BulkAction(op="delete", index=names.status, doc_id=area_code)


def _alert_extra(alert: Alert, indexed_at: datetime) -> dict[str, Any]:
    return {"province": alert.area_code.split(".")[0], "indexed_at": _iso(indexed_at)}


def alert_document(alert: Alert, indexed_at: datetime) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_with_fields(alert, _alert_extra(alert, indexed_at)))
    return document


def alert_action(alert: Alert, names: IndexNames, indexed_at: datetime) -> BulkAction:
    return BulkAction(
        op="index",
        index=names.alerts,
        doc_id=alert.alert_id,
        document=_with_fields(alert, _alert_extra(alert, indexed_at)),
        version=epoch_ms(alert.updated_at),
    )
