"""``sitrep rules check`` and ``sitrep rules test`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from sitrep.cli import main

DATA = Path(__file__).parent / "data"


def test_check_shipped_rules() -> None:
    result = CliRunner().invoke(main, ["rules", "check"])
    assert result.exit_code == 0, result.output
    assert "bentrokan-beruntun" in result.output and "frequency" in result.output
    assert "OK" in result.output


def test_check_reports_every_problem(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "id: x\nname: X\ntype: frequency\nparams: {window: 1h}\n"
        "tiers: {warning: {count: 0}}\nmessages: {id: '{nope}', en: y}\n"
    )
    result = CliRunner().invoke(main, ["rules", "check", "--rules", str(tmp_path)])
    assert result.exit_code == 1
    assert "bad.yaml: x: tiers.warning.count: Input should be greater than or equal to 1" in (
        result.output
    )


def test_rule_test_over_jsonl() -> None:
    args = ["rules", "test", "g-frequency", "--scenario", str(DATA / "frequency.jsonl")]
    args += ["--rules", str(DATA), "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    summary = lines[-1]["summary"]
    assert summary == {"escalated": 1, "fired": 2, "realert": 1, "resolved": 3, "update": 1}
    assert any(line.get("late") for line in lines[:-1])


def test_rule_test_table_in_english() -> None:
    args = ["rules", "test", "g-keyword", "--scenario", str(DATA / "keyword.jsonl")]
    args += ["--rules", str(DATA), "--lang", "en"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "WITA" in result.output and "escalated" in result.output
    assert "in Kota Balikpapan" in result.output


def test_rule_test_unknown_rule() -> None:
    result = CliRunner().invoke(main, ["rules", "test", "nope", "--scenario", "x.jsonl"])
    assert result.exit_code == 1 and "no rule 'nope'" in result.output
