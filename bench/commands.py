"""``sitrep bench``: one group, one subcommand per stage benchmark."""

from __future__ import annotations

import click

from sitrep.commands.common import LazyGroup

BENCHMARKS: dict[str, str] = {
    "produce": "bench.produce:command",
    "worker": "bench.worker:command",
    "engine": "bench.engine:command",
    "index": "bench.index:command",
    "alerts": "bench.alerts:command",
    "board": "bench.board:command",
    "pipeline": "bench.pipeline:command",
    "all": "bench.suite:command",
}


@click.group(cls=LazyGroup, lazy=BENCHMARKS)
def bench() -> None:
    """Measure throughput and latency against the local stack, each next to its ceiling.

    Results are printed as a table and written as JSON under SITREP_HOME/bench/. These are
    measurements, not tests: nothing here passes or fails on a figure.
    """
