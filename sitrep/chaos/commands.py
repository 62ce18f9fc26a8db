"""``sitrep chaos``: the fault-injection suite against the local stack, with a report."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import click

from sitrep.commands.common import Context, fail, pass_context
from sitrep.log_setup import quiet_library_logs


@click.command()
@click.argument("scenarios", nargs=-1)
@click.option(
    "--long", "with_long", is_flag=True, help="Also the long outages (Kafka 30 s, ES 120 s)."
)
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@click.option(
    "--rate",
    type=click.FloatRange(min=1),
    default=100.0,
    show_default=True,
    help="Submissions per second sent to the intake.",
)
@click.option(
    "--reports",
    "limit",
    type=click.IntRange(min=50),
    default=None,
    help="Use only the first N submissions of the input (default: all, about 1,500).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON report (default SITREP_HOME/chaos/chaos-<time>.json).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=10),
    default=600.0,
    show_default=True,
    help="Seconds a scenario may take to catch up before its invariants count as broken.",
)
@click.option("--keep", is_flag=True, help="Keep every run's topics, indices and logs.")
@pass_context
def chaos(
    ctx: Context,
    scenarios: tuple[str, ...],
    with_long: bool,
    list_only: bool,
    rate: float,
    limit: int | None,
    out: Path | None,
    timeout_s: float,
    keep: bool,
) -> None:
    """Run the pipeline with faults injected mid-stream and check that nothing was lost.

    Every scenario starts intake, worker, indexer and notifier as real processes on the local
    stack (started if needed), sends the same input (a voting day of the Kaltim scenario, with
    duplicates and invalid submissions) to the intake, injects its fault, waits until the
    pipeline has caught up and checks: every accepted report indexed exactly once, final
    statuses and alerts as in a fault-free run, every notification delivered exactly once,
    one dead letter per invalid input. Exit status 1 if any invariant broke.

    SCENARIOS: names to run (default: all but the long outages); `--list` shows them.
    """
    from schemas.registry import default_registry
    from sitrep import stack
    from sitrep.chaos import report
    from sitrep.chaos.feed import build_input, utc_now
    from sitrep.chaos.run import run_scenario
    from sitrep.chaos.scenarios import BASELINE, SCENARIOS, by_name

    if list_only:
        for scenario in (BASELINE, *SCENARIOS):
            click.echo(
                f"{scenario.name:26} {scenario.description}{' (long)' if scenario.long else ''}"
            )
        return
    try:
        chosen = (
            by_name(list(scenarios))
            if scenarios
            else [s for s in SCENARIOS if with_long or not s.long]
        )
    except KeyError as exc:
        fail(str(exc.args[0]))
    chosen = [s for s in chosen if s is not BASELINE]
    settings = ctx.settings
    stack.up(settings)
    services = {service.name: service for service in stack.services(settings)}
    started = datetime.now(UTC)
    submissions = build_input(default_registry(), now=utc_now(), limit=limit)
    work = settings.home.resolve() / "chaos" / started.strftime("%Y%m%dT%H%M%SZ")

    def say(line: str) -> None:
        click.echo(f"[{time.strftime('%H:%M:%S')}] {line}", err=True)

    # The field app's requests are counted in the report; a log line each would bury it.
    with quiet_library_logs("httpx"):
        results = []
        baseline = run_scenario(
            settings,
            BASELINE,
            submissions,
            services=services,
            work=work,
            expected=None,
            rate=rate,
            timeout_s=timeout_s,
            keep=keep,
            on_progress=say,
        )
        results.append(baseline)
        if baseline.expected is None:
            say("the fault-free run did not hold its own invariants; nothing to compare with")
        else:
            for scenario in chosen:
                result = run_scenario(
                    settings,
                    scenario,
                    submissions,
                    services=services,
                    work=work,
                    expected=baseline.expected,
                    rate=rate,
                    timeout_s=timeout_s,
                    keep=keep,
                    on_progress=say,
                )
                results.append(result)
                say(f"{scenario.name}: {'held' if result.held else 'BROKEN'}")
    meta = {
        "started_at": started.isoformat(),
        "submissions": len(submissions),
        "rate_per_s": rate,
    }
    path = report.write(out or report.default_path(settings.home, started), results, meta)
    click.echo(report.table(results))
    click.echo(f"report: {path}")
    if not all(r.held for r in results):
        raise SystemExit(1)
