"""The pipeline's own processes (worker, indexer, web, notifier, the feed) run in the background
for the demo.

Started as ``sitrep <role>`` subprocesses with a pid file under SITREP_HOME/run, like the stack's
services; ``sitrep stack down`` stops them before Kafka and Elasticsearch.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import structlog

from sitrep.settings import Settings

from . import process

log = structlog.get_logger("sitrep.stack")

MARKER_VARIABLE = "SITREP_ROLE_MARKER"


@dataclass(frozen=True)
class Role:
    name: str
    args: tuple[str, ...]
    # Environment defaults of this role; a variable the caller already set wins.
    env_defaults: tuple[tuple[str, str], ...] = ()


# Every channel of the shipped rules as a log channel: the demo reaches no outside service.
DEMO_CHANNELS_FILE = (
    Path(__file__).resolve().parents[2] / "deploy" / "notify" / "channels.demo.yaml"
)

ROLES = (
    Role("worker", ("worker",)),
    Role("indexer", ("index",)),
    Role("web", ("serve",)),
    Role(
        "notifier",
        ("notify",),
        (("SITREP_NOTIFY__CHANNELS_FILE", str(DEMO_CHANNELS_FILE)),),
    ),
)


FEED = "feed"
FEED_SPEEDUP = 60


def feed_role(scenario: str, start: str, seed: int) -> Role:
    """The demo's field units: the scenario goes on from ``start`` (scenario time) at 60x
    real time, an hour of the operation a minute, until ``sitrep demo stop``."""
    return Role(
        FEED,
        (
            "simulate",
            scenario,
            "--start",
            start,
            "--speedup",
            str(FEED_SPEEDUP),
            "--seed",
            str(seed),
        ),
    )


def _all_roles() -> tuple[Role, ...]:
    """Every role a demo may have started (the feed's arguments do not matter to stop it)."""
    return (*ROLES, Role(FEED, ()))


@dataclass(frozen=True)
class RoleState:
    name: str
    pid: int | None
    log_file: Path


def _paths(settings: Settings, role: Role) -> tuple[Path, Path, str]:
    home = settings.home.resolve()
    pid_file = home / "run" / f"role-{role.name}.pid"
    return pid_file, home / "logs" / f"{role.name}.log", f"{home}/run/role-{role.name}"


def start_role(settings: Settings, role: Role) -> RoleState:
    """Start ``sitrep <role>`` unless it already runs; idempotent."""
    pid_file, log_file, marker = _paths(settings, role)
    running = process.running_record(pid_file)
    if running is not None:
        return RoleState(role.name, running.pid, log_file)
    sitrep = str(Path(sys.executable).with_name("sitrep"))
    env = {
        **dict(role.env_defaults),
        **os.environ,
        MARKER_VARIABLE: marker,
        "SITREP_LOG__FORMAT": "json",
    }
    record = process.spawn(
        [sitrep, *role.args],
        marker=marker,
        pid_file=pid_file,
        output=log_file,
        cwd=Path.cwd(),
        env=env,
    )
    log.info("role started", role=role.name, pid=record.pid, log=str(log_file))
    return RoleState(role.name, record.pid, log_file)


def stop_roles(settings: Settings) -> list[tuple[str, bool]]:
    stopped = []
    for role in reversed(_all_roles()):  # the feed first: nothing new while the rest stops
        pid_file, _, _ = _paths(settings, role)
        record = process.running_record(pid_file)
        stopped.append((role.name, record is not None and process.terminate(record, pid_file)))
    return stopped


def role_states(settings: Settings) -> list[RoleState]:
    states = []
    for role in _all_roles():
        pid_file, log_file, _ = _paths(settings, role)
        record = process.running_record(pid_file)
        states.append(RoleState(role.name, record.pid if record else None, log_file))
    return states
