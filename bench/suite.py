"""``sitrep bench all``: every benchmark in one run, one JSON result and one table.

The stage benchmarks measure their own ceiling in the same run (raw kafka-python for the
producers and the worker, raw ``helpers.streaming_bulk`` for the indexer); this adds the
ceiling of validation itself (``model_validate_json`` of the same payloads) and the whole
pipeline at a sustained rate with a burst. ``--smoke`` runs each with a tiny size: it proves
the harness works (CI), its figures mean nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bench.harness import Figure, format_table, validation_seconds, write_result
from sitrep.commands.common import Context, pass_context


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark sends."""

    produce_count: int
    worker_count: int
    worker_processes: int  # worker and alerts benchmarks
    index_count: int
    index_rate: int
    index_seconds: int
    alerts_rate: float
    alerts_seconds: float
    alerts_warmup_s: float
    pipeline_rate: float
    pipeline_warmup_s: float
    pipeline_seconds: float
    pipeline_burst_s: float


FULL = Sizes(
    produce_count=50_000,
    worker_count=30_000,
    worker_processes=2,
    index_count=20_000,
    index_rate=200,
    index_seconds=10,
    alerts_rate=2000.0,
    alerts_seconds=60.0,
    alerts_warmup_s=10.0,
    pipeline_rate=2500.0,
    pipeline_warmup_s=30.0,
    pipeline_seconds=600.0,
    pipeline_burst_s=60.0,
)
SMOKE = Sizes(
    produce_count=1000,
    worker_count=1000,
    worker_processes=2,
    index_count=1000,
    index_rate=50,
    index_seconds=2,
    alerts_rate=50.0,
    alerts_seconds=8.0,
    alerts_warmup_s=2.0,
    pipeline_rate=50.0,
    pipeline_warmup_s=2.0,
    pipeline_seconds=8.0,
    pipeline_burst_s=2.0,
)


def validation_ceiling(count: int) -> Figure:
    """``FieldReport.model_validate_json`` of scenario payloads: the least any entry point
    that validates pays per report, on one core."""
    from bench.pipeline import scenario_templates

    stamp = datetime.now(UTC).isoformat()
    payloads = [
        json.dumps({**t, "received_at": stamp}, ensure_ascii=False).encode()
        for t in scenario_templates("kaltim", count)
    ]
    return Figure("model_validate_json (ceiling)", len(payloads), validation_seconds(payloads))


def _figures(path: Path) -> list[Figure]:
    document = json.loads(path.read_text())
    names = Figure.__dataclass_fields__
    return [Figure(**{k: v for k, v in f.items() if k in names}) for f in document["figures"]]


@click.command("all")
@click.option("--smoke", is_flag=True, help="Tiny sizes: checks the harness, not the speed.")
@click.option(
    "--workload",
    type=click.Choice(["kaltim", "nationwide"]),
    default="kaltim",
    show_default=True,
    help="Scenario of the whole-pipeline benchmark.",
)
@click.option("--rate", type=float, help="Sustained rate of the pipeline benchmark (reports/s).")
@click.option("--duration", type=float, help="Sustained seconds of the pipeline benchmark.")
@click.option(
    "--burst",
    type=float,
    help="Seconds at 10x the rate after the sustained phase (default 60; 0: no burst).",
)
@click.option("--skip", multiple=True, help="Benchmarks to leave out (produce, worker, ...).")
@pass_context
def command(
    ctx: Context,
    smoke: bool,
    workload: str,
    rate: float | None,
    duration: float | None,
    burst: float | None,
    skip: tuple[str, ...],
) -> Path:
    """Every benchmark (ceilings, each stage, the whole pipeline) with one summary."""
    from bench import alerts, engine, index, pipeline, produce, worker

    sizes = SMOKE if smoke else FULL
    click_ctx = click.get_current_context()
    results: dict[str, Path] = {}
    figures: list[Figure] = []
    if "validate" not in skip:
        figure = validation_ceiling(sizes.produce_count)
        figures.append(figure)
        click.echo(format_table([figure]))
    steps: list[tuple[str, Any, dict[str, Any]]] = [
        ("produce", produce.command, {"count": sizes.produce_count}),
        ("engine", engine.command, {"count": sizes.worker_count}),
        (
            "worker",
            worker.command,
            {"count": sizes.worker_count, "workers": sizes.worker_processes},
        ),
        (
            "index",
            index.command,
            {
                "count": sizes.index_count,
                "rate": sizes.index_rate,
                "seconds": sizes.index_seconds,
            },
        ),
        (
            "alerts",
            alerts.command,
            {
                "rate": sizes.alerts_rate,
                "warmup": sizes.alerts_warmup_s,
                "duration": sizes.alerts_seconds,
                "workers": sizes.worker_processes,
            },
        ),
        (
            "pipeline",
            pipeline.command,
            {
                "workload": workload,
                "rate": rate or sizes.pipeline_rate,
                "warmup_s": sizes.pipeline_warmup_s,
                "sustained_s": duration or sizes.pipeline_seconds,
                "burst_s": sizes.pipeline_burst_s if burst is None else burst,
            },
        ),
    ]
    for name, step, params in steps:
        if name in skip:
            continue
        click.echo(f"\n== {name} ==")
        path = click_ctx.invoke(step, **params)
        results[name] = path
        figures.extend(_figures(path))
    click.echo("\n== summary ==")
    click.echo(format_table(figures))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    summary = write_result(
        ctx.settings.home / "bench" / f"all-{stamp}.json",
        "all",
        figures,
        {
            "smoke": smoke,
            "sizes": sizes.__dict__,
            "results": {k: str(v) for k, v in results.items()},
        },
    )
    click.echo(f"result: {summary}")
    return summary
