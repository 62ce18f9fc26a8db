"""The faults: each is injected once the feed is ``at`` of the way through and returns when the
fault is over (the killed process started again, the stopped service back).

A scenario names its fault, how many workers the pipeline runs, and whether it is long
(minutes of outage: run by ``make test-reliability`` and ``sitrep chaos --long``).
"""

from __future__ import annotations

import resource
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog

from .pipeline import Pipeline
from .receiver import Mode, Receiver

log = structlog.get_logger("sitrep.chaos")

RESTART_AFTER_S: Final = 1.0  # a supervisor's pause before it starts a killed process again
SECOND_KILL_AFTER_S: Final = 4.0  # "twice in a row": while the first restart is recovering


@dataclass(frozen=True)
class FaultContext:
    pipeline: Pipeline
    services: Mapping[str, Any]  # the stack's services by name (kafka, elasticsearch)
    receiver: Receiver


Fault = Callable[[FaultContext], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    fault: Fault | None
    workers: int = 1
    long: bool = False
    at: float = 0.4  # fraction of the input sent when the fault starts


def kill(role: str, times: int = 1) -> Fault:
    def inject(ctx: FaultContext) -> None:
        process = ctx.pipeline.roles[role]
        for round_ in range(times):
            if round_:
                time.sleep(SECOND_KILL_AFTER_S)
            log.info("kill -9", role=role, pid=process.process.pid if process.process else None)
            process.kill9()
            time.sleep(RESTART_AFTER_S)
            process.start(wait=False)

    return inject


def kill_for_good(role: str) -> Fault:
    """The role is not started again: the others must take over its work."""

    def inject(ctx: FaultContext) -> None:
        process = ctx.pipeline.roles.pop(role)
        log.info("kill -9 for good", role=role)
        process.kill9()

    return inject


def stop_service(service: str, seconds: float) -> Fault:
    def inject(ctx: FaultContext) -> None:
        log.info("stopping", service=service, seconds=seconds)
        ctx.services[service].stop()
        time.sleep(seconds)
        ctx.services[service].start()
        log.info("started again", service=service)

    return inject


def corrupt_state_store(ctx: FaultContext) -> None:
    """kill -9 the worker, overwrite its local table files with garbage, start it again."""
    process = ctx.pipeline.roles["worker"]
    process.kill9()
    state_dir = Path(process.env["SITREP_WORKER__DATA_DIR"])
    damaged = 0
    for path in sorted(state_dir.rglob("*")):
        table_file = path.suffix == ".sst" or path.name.startswith(("MANIFEST", "CURRENT"))
        if path.is_file() and table_file:
            path.write_bytes(b"\x00garbage\xff" * 64)
            damaged += 1
    log.info("state store corrupted", files=damaged, dir=str(state_dir))
    time.sleep(RESTART_AFTER_S)
    process.start(wait=False)


def wipe_state_store(ctx: FaultContext) -> None:
    """The worker's disk is lost (a new node): it must rebuild everything from the changelog."""
    process = ctx.pipeline.roles["worker"]
    process.kill9()
    shutil.rmtree(process.env["SITREP_WORKER__DATA_DIR"], ignore_errors=True)
    time.sleep(RESTART_AFTER_S)
    process.start(wait=False)


FULL_DISK_FILE_BYTES: Final = 16 * 1024


def full_state_disk(seconds: float) -> Fault:
    """For ``seconds`` no file the worker writes may grow past 16 KiB (RLIMIT_FSIZE), as on a
    full volume: its RocksDB writes fail and it exits; started again meanwhile, it fails again.
    Then space is back and it must rebuild from the changelog what it could not write."""

    def inject(ctx: FaultContext) -> None:
        # Its restarts while the disk is full are this fault's, not crashes to report.
        process = ctx.pipeline.roles.pop("worker")
        exits: list[int | None] = []
        try:
            process.file_size_limit = FULL_DISK_FILE_BYTES
            assert process.process is not None
            limit = (FULL_DISK_FILE_BYTES, FULL_DISK_FILE_BYTES)
            resource.prlimit(process.process.pid, resource.RLIMIT_FSIZE, limit)
            log.info("state disk full", seconds=seconds, pid=process.process.pid)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if not process.alive:
                    assert process.process is not None
                    exits.append(process.process.returncode)
                    time.sleep(RESTART_AFTER_S)
                    process.start(wait=False)
                time.sleep(0.2)
        finally:
            log.info("state disk has space again", exits_while_full=exits)
            process.file_size_limit = None
            process.kill9()
            time.sleep(RESTART_AFTER_S)
            process.start(wait=False)
            ctx.pipeline.roles["worker"] = process
        if not exits:
            raise RuntimeError(f"the worker did not fail on the full disk within {seconds:.0f} s")

    return inject


def bad_channels(seconds: float) -> Fault:
    """One channel answers 500, another hangs past the notifier's timeout; the rest work."""

    def inject(ctx: FaultContext) -> None:
        ctx.receiver.set_mode("telegram-pimpinan", Mode.FAIL)
        ctx.receiver.set_mode("email-kabag-ops", Mode.HANG)
        time.sleep(seconds)
        ctx.receiver.set_mode("telegram-pimpinan", Mode.OK)
        ctx.receiver.set_mode("email-kabag-ops", Mode.OK)

    return inject


BASELINE: Final = Scenario("baseline", "no fault: the run every other is compared with", None)

SCENARIOS: Final = (
    # A control: if two fault-free runs differed, no other comparison would mean anything.
    Scenario("rerun", "no fault again: the same input gives the same end state", None),
    Scenario("kill-worker", "kill -9 of the Faust worker", kill("worker")),
    Scenario("kill-worker-twice", "kill -9 of the worker, twice in a row", kill("worker", 2)),
    Scenario("kill-indexer", "kill -9 of the indexer", kill("indexer")),
    Scenario("kill-indexer-twice", "kill -9 of the indexer, twice in a row", kill("indexer", 2)),
    Scenario("kill-notifier", "kill -9 of the notifier", kill("notifier")),
    Scenario("kill-notifier-twice", "kill -9 of the notifier, twice in a row", kill("notifier", 2)),
    Scenario("kill-intake", "kill -9 of the HTTP intake", kill("intake")),
    Scenario("kill-intake-twice", "kill -9 of the intake, twice in a row", kill("intake", 2)),
    Scenario(
        "two-workers-one-killed",
        "two workers share the partitions; one is killed for good",
        kill_for_good("worker-2"),
        workers=2,
    ),
    Scenario(
        "corrupt-state-store",
        "the worker's RocksDB files overwritten with garbage",
        corrupt_state_store,
    ),
    Scenario("lost-state-store", "the worker's state folder deleted", wipe_state_store),
    Scenario(
        "state-disk-full",
        "for 20 s the worker's files cannot grow (disk full); it fails, then space is back",
        full_state_disk(20),
    ),
    Scenario(
        "bad-channels",
        "for 20 s one channel answers 500 and one hangs past the timeout",
        bad_channels(20),
    ),
    Scenario("kafka-down-30s", "Kafka stopped for 30 s", stop_service("kafka", 30), long=True),
    Scenario(
        "elasticsearch-down-120s",
        "Elasticsearch stopped for 120 s",
        stop_service("elasticsearch", 120),
        long=True,
    ),
)


def by_name(names: list[str]) -> list[Scenario]:
    known = {s.name: s for s in (BASELINE, *SCENARIOS)}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]
