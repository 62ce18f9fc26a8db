"""JSON Schema export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas.export import JSON_SCHEMA_DIALECT, export_json_schemas
from schemas.report import Category, FieldReport, parse_report, report_to_json_bytes


@pytest.fixture
def exported(tmp_path: Path) -> dict[str, dict[str, Any]]:
    out_dir = tmp_path / "nested" / "schemas"
    written = export_json_schemas(out_dir)
    assert sorted(p.name for p in written) == [
        "alert.schema.json",
        "area-status.schema.json",
        "dead-letter.schema.json",
        "field-report.schema.json",
    ]
    assert all(p.parent == out_dir for p in written)
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in written}


def test_documents_declare_dialect_id_and_title(exported: dict[str, dict[str, Any]]) -> None:
    for name, document in exported.items():
        assert document["$schema"] == JSON_SCHEMA_DIALECT
        assert document["$id"] == f"urn:sitrep:schema:{name.removesuffix('.schema.json')}:v1"
        assert "schema_version 1" in document["title"]
        assert document["type"] == "object"
        assert document["additionalProperties"] is False


def test_field_report_schema_requires_the_wire_fields(
    exported: dict[str, dict[str, Any]],
) -> None:
    document = exported["field-report.schema.json"]
    assert set(document["required"]) == {
        "report_id",
        "occurred_at",
        "received_at",
        "district",
        "kind",
        "category",
        "severity",
        "reporter",
        "source",
        "phase",
        "text",
        "schema_version",
    }
    properties = document["properties"]
    assert set(properties) == set(FieldReport.model_fields)
    assert "default" not in properties["incident_id"]  # filled from report_id, not ""
    assert properties["severity"]["minimum"] == 1 and properties["severity"]["maximum"] == 5
    assert properties["district"]["pattern"] == r"^\d{2}\.\d{2}$"
    assert document["$defs"]["Category"]["enum"] == [c.value for c in Category]


def test_valid_report_uses_only_declared_properties(
    exported: dict[str, dict[str, Any]], report_data: dict[str, Any]
) -> None:
    raw = report_to_json_bytes(parse_report(json.dumps(report_data)))
    properties = exported["field-report.schema.json"]["properties"]
    assert set(json.loads(raw)) <= set(properties)


def test_status_and_alert_schemas_require_their_keys(
    exported: dict[str, dict[str, Any]],
) -> None:
    status = exported["area-status.schema.json"]
    assert {"area_code", "level", "score", "updated_at"} <= set(status["required"])
    assert status["$defs"]["StatusLevel"]["enum"][-1] == "TIDAK ADA KABAR"
    alert = exported["alert.schema.json"]
    assert {"alert_id", "rule_id", "state", "tier", "first_fired_at"} <= set(alert["required"])
    assert "acknowledged_by" not in alert["required"]
