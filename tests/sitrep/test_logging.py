"""Logs are JSON when not on a terminal, with bound key/value context, and secrets stay out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import structlog
from sitrep.log_setup import configure_logging
from sitrep.settings import load_settings
configure_logging("INFO", load_settings().log.format)
log = structlog.get_logger("sitrep.test").bind(area="64.71")
log.info("status changed", status_level="SIAGA")
log.debug("hidden at info")
import logging; logging.getLogger("elasticsearch").warning("library warning")
log.info("settings", settings=load_settings())
"""


def _run(fmt: str) -> str:
    env = {
        **os.environ,
        "SITREP_ELASTICSEARCH__PASSWORD": "sandi-rahasia",
        "SITREP_LOG__FORMAT": fmt,
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    return result.stderr


def test_json_lines_with_bound_context_when_not_a_terminal() -> None:
    lines = [json.loads(line) for line in _run("auto").splitlines()]  # stderr is a pipe here
    first = lines[0]
    assert first["event"] == "status changed"
    assert first["area"] == "64.71" and first["status_level"] == "SIAGA"
    assert first["level"] == "info"
    assert first["logger"] == "sitrep.test" and "timestamp" in first
    assert not any(line["event"] == "hidden at info" for line in lines)
    assert any(line["event"] == "library warning" for line in lines)


def test_secrets_are_not_logged() -> None:
    output = _run("auto")
    assert "sandi-rahasia" not in output
    assert "**********" in output


def test_console_format_is_key_value() -> None:
    first = _run("console").splitlines()[0]
    assert "status changed" in first
    assert "area=64.71" in first and "status_level=SIAGA" in first
