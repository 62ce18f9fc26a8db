"""``sitrep worker`` and ``sitrep replay``: run the situation engine, or rebuild it from Kafka."""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime

import click

from sitrep.commands.common import Context, fail, pass_context
from sitrep.settings import Settings

__all__ = ["replay", "run_worker", "worker"]

_EXIT_HELP = (
    "Stop once every report present has been processed and its status sent (for scripted "
    "rebuilds and tests); default: keep running."
)


def run_worker(settings: Settings, *, exit_when_caught_up: bool = False) -> None:
    """Build the Faust app and run it until SIGINT/SIGTERM (or caught up, if asked)."""
    import faust

    from streams.app import build_worker
    from streams.scoring import ScoringConfigError

    try:
        runtime = build_worker(settings, exit_when_caught_up=exit_when_caught_up)
    except ScoringConfigError as exc:
        fail(str(exc))
    except RuntimeError as exc:
        fail(str(exc))
    if settings.log.level != "DEBUG":
        # Faust narrates every service start and stop at INFO; its warnings still show.
        for name in ("faust", "mode"):
            logging.getLogger(name).setLevel(logging.WARNING)
    # The area registry, rules and stemmer dictionary live as long as the process: frozen, they
    # are left out of every full garbage collection (without this each one stalls ~100 ms).
    gc.collect()
    gc.freeze()
    worker = faust.Worker(
        runtime.app,
        loglevel=settings.log.level,
        override_logging=False,  # keep sitrep's structlog setup
        redirect_stdouts=False,
        quiet=True,
    )
    worker.execute_from_commandline()


@click.command()
@click.option("--exit-when-caught-up", is_flag=True, help=_EXIT_HELP)
@pass_context
def worker(ctx: Context, exit_when_caught_up: bool) -> None:
    """Run the situation engine: sitrep.reports -> per-area status on sitrep.status.

    Keeps, for every regency and kecamatan of SITREP_PROVINCE_CODE (and any area that reports)
    and for the province, a level AMAN / WASPADA / SIAGA / AWAS / TIDAK ADA KABAR from the
    scoring rules (streams/config/scoring.yaml, or SITREP_WORKER__SCORING_CONFIG). State lives
    in Faust tables backed by changelog topics, so a restart continues where it stopped.

    Web (SITREP_WORKER__WEB_HOST/WEB_PORT, default 127.0.0.1:6066): /healthz and /livez, and
    with a monitoring token (`sitrep monitoring token add`) /metrics, /areas, /areas/CODE,
    /tables/NAME/KEY. Stop with Ctrl-C.
    """
    run_worker(ctx.settings, exit_when_caught_up=exit_when_caught_up)


def parse_start(text: str) -> datetime | None:
    """'beginning' or an ISO 8601 time (with offset; UTC if none)."""
    if text.lower() in ("beginning", "earliest", "start"):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither 'beginning' nor an ISO time like 2024-02-14T08:00+08:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.option(
    "--from",
    "start_text",
    required=True,
    metavar="TIME",
    help="Rebuild from reports received at or after TIME (ISO 8601), or 'beginning'.",
)
@click.option(
    "--app-id",
    default=None,
    help="Rebuild under this app id (a new consumer group; the old state is kept) instead of "
    "resetting SITREP_WORKER__APP_ID.",
)
@click.option("--yes", is_flag=True, help="Do not ask before deleting the worker's state.")
@click.option("--exit-when-caught-up", is_flag=True, help=_EXIT_HELP)
@pass_context
def replay(
    ctx: Context, start_text: str, app_id: str | None, yes: bool, exit_when_caught_up: bool
) -> None:
    """Rebuild every status from sitrep.reports, e.g. after changing the scoring rules.

    Deletes the worker's derived state for the app id (its consumer group, its internal
    topics APP_ID-*, its local table files), points the consumer group at the first report
    received at or after TIME (Kafka record time) and runs the worker, which republishes the
    recomputed statuses on sitrep.status. The reports themselves are never touched.
    Stop the running worker first.
    """
    from streams.app import data_dir
    from streams.replay import WorkerStillRunning, prepare_replay

    settings = ctx.settings
    if app_id is not None:
        settings = settings.model_copy(
            update={"worker": settings.worker.model_copy(update={"app_id": app_id})}
        )
    start = parse_start(start_text)
    target = settings.worker.app_id
    if not yes:
        click.confirm(
            f"Delete the state of worker {target!r} (consumer group, topics {target}-*, "
            f"{data_dir(settings)}) and rebuild from "
            f"{start.isoformat() if start else 'the beginning'}?",
            abort=True,
        )
    try:
        plan = prepare_replay(settings, start, data_dir(settings))
    except WorkerStillRunning as exc:
        fail(str(exc))
    click.echo(
        f"worker {plan.app_id}: state reset ({len(plan.deleted_topics)} internal topics "
        f"deleted); {plan.records} reports to replay"
    )
    run_worker(settings, exit_when_caught_up=exit_when_caught_up)
