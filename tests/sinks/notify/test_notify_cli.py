"""`sitrep notify check` and `sitrep notify test` (log channel) without Kafka."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from sitrep.cli import main


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    return path


FILE = """
channels:
  posko-webhook: {type: webhook, url: "https://x.example/h", secret_env: T_CLI_SECRET}
  log: {type: log}
"""


def test_check_reports_missing_secret_and_passes_when_set(tmp_path: Path) -> None:
    path = write(tmp_path, FILE)
    env = {"SITREP_NOTIFY__CHANNELS_FILE": str(path), "T_CLI_SECRET": ""}
    result = CliRunner().invoke(main, ["notify", "check"], env=env)
    assert result.exit_code == 1
    assert "environment variable T_CLI_SECRET (secret) is not set" in result.output
    result = CliRunner().invoke(main, ["notify", "check"], env={**env, "T_CLI_SECRET": "x"})
    assert result.exit_code == 0, result.output
    assert "2 channel(s) ok" in result.output and "posko-webhook" in result.output
    assert "x.example" in result.output


def test_check_names_the_bad_field(tmp_path: Path) -> None:
    path = write(tmp_path, "channels:\n  a: {type: webhook, url: nope, secret_env: X}\n")
    result = CliRunner().invoke(
        main, ["notify", "check"], env={"SITREP_NOTIFY__CHANNELS_FILE": str(path)}
    )
    assert result.exit_code == 1
    assert "channels.a.url" in result.output


def test_test_command_needs_only_the_channels_own_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, FILE)
    env = {"SITREP_NOTIFY__CHANNELS_FILE": str(path), "T_CLI_SECRET": ""}
    result = CliRunner().invoke(main, ["notify", "test", "--channel", "log"], env=env)
    assert result.exit_code == 0, result.output
    assert "log: test message delivered" in result.output
    result = CliRunner().invoke(main, ["notify", "test", "--channel", "nope"], env=env)
    assert result.exit_code == 1 and "no channel 'nope'" in result.output
