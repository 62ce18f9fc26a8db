"""The `sitrep` entry point: one CLI whose subcommands explain themselves and fail clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SITREP = str(Path(sys.executable).with_name("sitrep"))


def _sitrep(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SITREP, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def test_help_lists_every_subcommand() -> None:
    result = _sitrep("--help")
    assert result.returncode == 0
    for command in ("stack", "topics", "schema", "demo"):
        assert f"  {command} " in result.stdout


def test_schema_export_writes_json_schema_files(tmp_path: Path) -> None:
    result = _sitrep("schema", "export", "--out", str(tmp_path / "json"))
    assert result.returncode == 0, result.stderr
    written = sorted(Path(line).name for line in result.stdout.split())
    assert written == [
        "alert.schema.json",
        "area-status.schema.json",
        "dead-letter.schema.json",
        "field-report.schema.json",
    ]
    report = json.loads((tmp_path / "json" / "field-report.schema.json").read_text())
    assert {"report_id", "occurred_at", "district", "severity"} <= set(report["required"])


def test_unreachable_kafka_is_a_clear_error_not_a_traceback() -> None:
    result = _sitrep("topics", "ensure", SITREP_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert result.returncode == 1
    assert "no Kafka broker answers at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_setting_value_names_the_variable() -> None:
    result = _sitrep("stack", "status", SITREP_KAFKA__PARTITIONS="many")
    assert result.returncode == 1
    assert "SITREP_KAFKA__PARTITIONS: Input should be a valid integer" in result.stderr
    assert "Traceback" not in result.stderr
