"""``sitrep bench engine``: the worker's own code for each report, on one core, no broker.

The status engine and the alert rules (what ``sitrep worker`` runs on every batch) take the
report mix of ``bench worker``, cut into batches per partition the way Kafka's default
partitioner spreads the regency keys, with the tables in memory. The figure is what our code
costs per report, without Kafka, Faust or the run-to-run spread of the broker benchmarks:
the part a change to the engine or the rules moves. Ceiling: ``model_validate_json`` of the
same payloads, which the engine does for every report.

Reports are spaced in event time as at ``--rate``, so the rule windows hold as many reports as
in a live run at that rate. ``--history-hours`` first applies reports spread over that many
hours, untimed: areas and rule groups then hold a bucket for most minutes of it, as after the
first day of an operation, which is where the cost per report grew.
"""

from __future__ import annotations

import cProfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bench.harness import (
    Figure,
    format_table,
    history_options,
    history_size,
    history_times,
    validation_seconds,
    write_result,
)
from bench.worker import hot_spots, render, templates
from sitrep.commands.common import Context, fail, pass_context

if TYPE_CHECKING:
    from sitrep.settings import Settings
    from streams.engine import Envelope


@dataclass(frozen=True)
class Workload:
    batches: list[tuple[int, list[Envelope]]]  # (partition, records in offset order)
    payloads: list[bytes]  # of the timed reports
    ends: list[datetime]  # per batch: occurred_at of its last report (the worker's wall time)
    timed_from: int  # index of the first batch of the timed phase (after the history)


def event_times(
    count: int, rate: float, history_count: int, history_hours: float, end: datetime
) -> list[datetime]:
    """``history_count`` times spread over ``history_hours``, then ``count`` at ``rate``,
    the last one at ``end``."""
    timed_start = end - timedelta(seconds=(count - 1) / rate)
    history = history_times(history_count, history_hours, timed_start)
    return history + [timed_start + timedelta(seconds=index / rate) for index in range(count)]


def workload(
    settings: Settings,
    count: int,
    rate: float,
    batch: int,
    partitions: int,
    history_hours: float = 0.0,
    history_count: int = 0,
) -> Workload:
    """Reports keyed by regency, cut into batches of ``batch`` per partition: first
    ``history_count`` over ``history_hours`` (the state an operation has built up), then the
    ``count`` timed ones at ``rate``."""
    from streams.engine import Envelope
    from streams.partitions import partition_for_key

    run = f"engine-{uuid.uuid4().hex[:8]}"
    total = history_count + count
    items = templates(settings, total)
    times = event_times(
        count, rate, history_count, history_hours, datetime.now(UTC) - timedelta(minutes=1)
    )
    topic = settings.kafka.topics.reports
    pending: dict[int, list[Envelope]] = {}
    offsets: dict[int, int] = {}
    batches: list[tuple[int, list[Envelope]]] = []
    ends: list[datetime] = []
    payloads: list[bytes] = []
    timed_from = 0

    def flush(at: datetime) -> None:
        for partition, records in pending.items():
            if records:
                batches.append((partition, records))
                ends.append(at)
        pending.clear()

    for index, (item, at) in enumerate(zip(items, times, strict=True)):
        if index == history_count:
            flush(times[index - 1] if index else at)  # no batch spans both phases
            timed_from = len(batches)
        raw = render(run, index, item, at)
        if index >= history_count:
            payloads.append(raw)
        key = item.district.encode()
        partition = partition_for_key(item.district, partitions)
        offset = offsets.get(partition, 0)
        offsets[partition] = offset + 1
        records = pending.setdefault(partition, [])
        records.append(Envelope(topic, partition, offset, key, raw))
        if len(records) >= batch:
            batches.append((partition, records))
            ends.append(at)
            pending[partition] = []
    flush(times[-1])
    return Workload(batches, payloads, ends, timed_from)


@dataclass
class Outcome:
    applied: int = 0
    alerts: int = 0


def run_engine(settings: Settings, load: Workload, with_rules: bool) -> tuple[Outcome, float]:
    """Every batch through a fresh engine (and rules); seconds spent in them alone."""
    from zoneinfo import ZoneInfo

    from schemas.registry import default_registry
    from streams.engine import MemoryStore, PartitionEngine
    from streams.rules.engine import MemoryRuleStore, RuleEngine
    from streams.rules.model import load_rules, load_sites
    from streams.scoring import load_scoring_config

    registry = default_registry()
    zone = ZoneInfo(settings.timezone)
    engine = PartitionEngine(
        load_scoring_config(settings.worker.scoring_config, registry), registry, zone
    )
    rules = RuleEngine(
        load_rules(settings.worker.rules_dir, registry, settings.province_code),
        registry,
        load_sites(settings.worker.sites_dir),
        zone,
    )
    store = MemoryStore()
    rule_stores: dict[int, MemoryRuleStore] = {}
    outcome = Outcome()
    started = 0.0
    for number, ((partition, records), wall_now) in enumerate(
        zip(load.batches, load.ends, strict=True)
    ):
        if number == load.timed_from:
            outcome = Outcome()  # the history is state, not measurement
            started = time.perf_counter()
        result = engine.process(partition, records, store, wall_now)
        outcome.applied += result.applied
        if with_rules and result.accepted:
            rule_store = rule_stores.setdefault(partition, MemoryRuleStore())
            outcome.alerts += len(rules.on_reports(result.accepted, rule_store, None))
    return outcome, time.perf_counter() - started


def profiled(path: Path, call: Callable[[], tuple[Outcome, float]]) -> tuple[Outcome, float]:
    profiler = cProfile.Profile()
    result = profiler.runcall(call)
    profiler.dump_stats(str(path))
    return result


@click.command()
@click.option("--count", default=30_000, show_default=True, help="Reports.")
@click.option(
    "--rate",
    default=2_500.0,
    show_default=True,
    help="Event-time spacing of the reports (reports/s): how full the rule windows get.",
)
@click.option(
    "--batch",
    default=40,
    show_default=True,
    type=click.IntRange(1),
    help="Reports per partition batch (two workers at 2,500/s get about 40 every 100 ms).",
)
@history_options
@click.option("--profile", is_flag=True, help="Also run under cProfile and print the hot spots.")
@pass_context
def command(
    ctx: Context,
    count: int,
    rate: float,
    batch: int,
    history_hours: float,
    history_count: int,
    profile: bool,
) -> Path:
    """Reports/s through the status engine and alert rules in one process, no broker."""
    settings = ctx.settings
    if count < 1:
        fail("--count must be at least 1")
    if rate <= 0:
        fail("--rate must be positive")
    history = history_size(history_hours, history_count)
    partitions = settings.kafka.partitions
    load = workload(settings, count, rate, batch, partitions, history_hours, history)
    click.echo(
        f"{count} reports timed in {len(load.batches) - load.timed_from} batches over "
        f"{partitions} partitions, one core, tables in memory"
        + (f"; after {history} reports over {history_hours:g} h of history" if history else "")
    )
    ceiling = len(load.payloads) / validation_seconds(load.payloads)
    figures = []
    for name, with_rules in (("engine", False), ("engine + rules", True)):
        outcome, seconds = run_engine(settings, load, with_rules)
        if outcome.applied != count:
            fail(f"{name}: {count - outcome.applied} of {count} reports not applied")
        figures.append(
            Figure(
                f"{name} (in process)",
                outcome.applied,
                seconds,
                "model_validate_json",
                ceiling,
                notes=f"{seconds / count * 1e6:.0f} us/report, {outcome.alerts} alert records",
            )
        )
    click.echo(format_table(figures))
    for figure in figures:
        click.echo(f"{figure.name}: {figure.notes}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = settings.home / "bench"
    if profile:
        profile_path = out_dir / f"engine-{stamp}.prof"
        out_dir.mkdir(parents=True, exist_ok=True)
        profiled(profile_path, lambda: run_engine(settings, load, with_rules=True))
        click.echo(hot_spots(profile_path))
    result = write_result(
        out_dir / f"engine-{stamp}.json",
        "engine",
        figures,
        {
            "count": count,
            "rate": rate,
            "batch": batch,
            "partitions": partitions,
            "history_hours": history_hours,
            "history_count": history,
        },
    )
    click.echo(f"result: {result}")
    return result
