"""JSON Schema (draft 2020-12) documents for the wire models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from schemas.alert import ALERT_SCHEMA_VERSION, Alert
from schemas.deadletter import DEADLETTER_SCHEMA_VERSION, DeadLetter
from schemas.report import REPORT_SCHEMA_VERSION, FieldReport
from schemas.status import STATUS_SCHEMA_VERSION, AreaStatus

__all__ = ["JSON_SCHEMA_DIALECT", "export_json_schemas", "json_schema_documents"]

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

# file stem -> (model, title, schema_version). $id is a URN: the schemas are not served
# from any web address, and a URN claims none.
_DOCUMENTS: Final[dict[str, tuple[type[BaseModel], str, int]]] = {
    "field-report": (FieldReport, "sitrep field report", REPORT_SCHEMA_VERSION),
    "area-status": (AreaStatus, "sitrep area status", STATUS_SCHEMA_VERSION),
    "alert": (Alert, "sitrep alert", ALERT_SCHEMA_VERSION),
    "dead-letter": (DeadLetter, "sitrep dead-letter record", DEADLETTER_SCHEMA_VERSION),
}


def json_schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema document, for export or for serving over HTTP."""
    documents: dict[str, dict[str, Any]] = {}
    for stem, (model, title, version) in _DOCUMENTS.items():
        body = model.model_json_schema(mode="validation")
        body.pop("title", None)
        documents[f"{stem}.schema.json"] = {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": f"urn:sitrep:schema:{stem}:v{version}",
            "title": f"{title} (schema_version {version})",
            **body,
        }
    return documents


def export_json_schemas(out_dir: Path) -> list[Path]:
    """Write the schema files into ``out_dir`` (created if missing); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in json_schema_documents().items():
        path = out_dir / name
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
        written.append(path)
    return written
