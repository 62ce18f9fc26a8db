"""`sitrep stack up` is idempotent and `sitrep stack down` leaves no process behind.

Runs a second, separate stack (own home folder and ports) so the session's stack keeps serving
the other tests; the jar cache is shared so nothing is downloaded again.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitrep.settings import Settings
from sitrep.stack.process import port_open

pytestmark = pytest.mark.integration

SITREP = str(Path(sys.executable).with_name("sitrep"))
PORTS = {"kafka": 19092, "controller": 19093, "elasticsearch": 19200}


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def second_stack(tmp_path: Path, local_stack: Settings) -> Iterator[tuple[dict[str, str], Path]]:
    home = tmp_path / "stack-home"
    env = {
        **os.environ,
        "SITREP_HOME": str(home),
        "SITREP_STACK__JARS_DIR": str((local_stack.home / "jars").resolve()),
        "SITREP_STACK__KAFKA_PORT": str(PORTS["kafka"]),
        "SITREP_STACK__KAFKA_CONTROLLER_PORT": str(PORTS["controller"]),
        "SITREP_STACK__ES_PORT": str(PORTS["elasticsearch"]),
        "SITREP_LOG__FORMAT": "json",
    }
    yield env, home
    subprocess.run([SITREP, "stack", "down"], env=env, capture_output=True, check=False)


def _sitrep(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SITREP, *args], env=env, capture_output=True, text=True, timeout=600)


def _pids(output: str) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+.*?\(pid (\d+)", output, re.MULTILINE)}


def test_up_twice_starts_nothing_twice_and_down_leaves_nothing(
    second_stack: tuple[dict[str, str], Path],
) -> None:
    env, home = second_stack

    first = _sitrep(env, "stack", "up")
    assert first.returncode == 0, first.stderr
    assert "kafka          started" in first.stdout
    assert "elasticsearch  started" in first.stdout

    second = _sitrep(env, "stack", "up")
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("already running") == 2
    assert _pids(second.stdout) == _pids(first.stdout)
    assert len(_processes_mentioning(str(home))) == 2

    status = _sitrep(env, "stack", "status", "--json")
    assert status.returncode == 0
    states = {s["name"]: s for s in json.loads(status.stdout)}
    assert states["kafka"]["running"] and states["elasticsearch"]["running"]
    assert states["elasticsearch"]["rss_kib"] > 100_000

    down = _sitrep(env, "stack", "down")
    assert down.returncode == 0, down.stderr
    assert down.stdout.count("stopped") == 2
    assert _processes_mentioning(str(home)) == []
    assert not any(port_open("127.0.0.1", port) for port in PORTS.values())

    after = _sitrep(env, "stack", "status")
    assert after.returncode == 3
    assert after.stdout.count("stopped") == 2


def test_up_refuses_a_port_taken_by_someone_else(second_stack: tuple[dict[str, str], Path]) -> None:
    import socket

    env, _ = second_stack
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", PORTS["kafka"]))
        squatter.listen()
        result = _sitrep(env, "stack", "up", "--only", "kafka")
    assert result.returncode == 1
    assert f"port {PORTS['kafka']} is already taken" in result.stderr
