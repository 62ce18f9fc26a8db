"""The intake-role commands without Kafka: simulate to a file, tokens, help texts."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from producers.tokens import TokenStore, load_token_file
from sitrep.cli import main


def run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"SITREP_HOME": str(tmp_path / "home"), "SITREP_LOG__LEVEL": "WARNING"}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_simulate_lists_scenarios(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "simulate", "--list")
    assert code == 0
    assert "pilkada-kaltim-2024" in out and "pilkada-serentak-2024-nasional" in out


def test_simulate_to_file_is_deterministic(tmp_path: Path) -> None:
    args = [
        "simulate",
        "pilkada-kaltim-2024",
        "--seed",
        "4",
        "--start",
        "2024-11-27T08:00",
        "--duration",
        "90m",
    ]
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert run(tmp_path, *args, "--out", str(first))[0] == 0
    assert run(tmp_path, *args, "--out", str(second), "--json")[0] == 0
    assert first.read_bytes() == second.read_bytes()
    lines = first.read_bytes().splitlines()
    assert len(lines) > 100
    assert json.loads(lines[0])["report_id"].startswith("pk24-")
    code, out, _ = run(tmp_path, *args, "--out", str(second), "--count", "10", "--json")
    assert code == 0 and json.loads(out)["written"] == 10
    assert second.read_bytes().splitlines() == lines[:10]


def test_simulate_refuses_bad_options(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "simulate", "no-such-scenario", "--out", "-")
    assert code == 1 and "no scenario 'no-such-scenario'" in err
    code, _, err = run(tmp_path, "simulate", "pilkada-kaltim-2024", "--rate", "5", "--speedup", "2")
    assert code == 1 and "exclusive" in err
    code, _, err = run(tmp_path, "simulate", "pilkada-kaltim-2024", "--rate", "fast")
    assert code == 1 and "--rate" in err


def test_token_add_list_revoke(tmp_path: Path) -> None:
    code, out, err = run(
        tmp_path,
        "intake",
        "token",
        "add",
        "--unit",
        "Polres Samarinda",
        "--regency",
        "64.72",
        "--role",
        "polres",
    )
    assert code == 0
    token = out.strip()
    assert token.startswith("sitrep_") and "only time" in err
    path = tmp_path / "home" / "intake" / "tokens.yaml"
    grant = TokenStore(path).authenticate(token)
    assert grant is not None and grant.regencies == ("64.72",)
    code, out, _ = run(tmp_path, "intake", "token", "list")
    assert "Polres Samarinda" in out and token not in out
    assert run(tmp_path, "intake", "token", "revoke", grant.token_id)[0] == 0
    assert load_token_file(path).tokens == ()


def test_token_add_refuses_unknown_regency_and_role(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "intake", "token", "add", "--unit", "X", "--regency", "64.99")
    assert code == 1 and "64.99" in err
    code, _, err = run(tmp_path, "intake", "token", "add", "--unit", "X", "--role", "pilot")
    assert code == 1 and "unknown role" in err


def test_token_for_a_whole_province(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "intake", "token", "add", "--unit", "Polda", "--province", "64")
    assert code == 0
    grant = TokenStore(tmp_path / "home" / "intake" / "tokens.yaml").authenticate(out.strip())
    assert grant is not None and len(grant.regencies) == 10


def test_help_texts(tmp_path: Path) -> None:
    for command in (["produce"], ["simulate"], ["intake"], ["intake", "serve"]):
        code, out, _ = run(tmp_path, *command, "--help")
        assert code == 0 and "Usage" in out
    assert "--allow-rejects" in run(tmp_path, "produce", "--help")[1]
