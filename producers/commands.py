"""CLI of the intake roles: ``sitrep intake``, ``sitrep produce``, ``sitrep simulate``."""

from __future__ import annotations

import contextlib
import json
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

import click

from sitrep.commands.common import (
    Context,
    fail,
    pass_context,
    revoke_token,
    show_new_token,
    show_tokens,
)

EXIT_REJECTED = 1
EXIT_NOT_ACKNOWLEDGED = 3


# --- sitrep intake ------------------------------------------------------------------------------


@click.group()
def intake() -> None:
    """HTTP intake for field apps, hotlines and SMS/radio gateways (POST /v1/reports).

    Every report is validated, stamped with the server's received_at and the token's unit, and
    written to Kafka before the client gets 202. See docs/intake.md.
    """


@intake.command("serve")
@click.option("--host", default=None, help="Listen address (SITREP_INTAKE__HOST).")
@click.option("--port", type=int, default=None, help="Port (SITREP_INTAKE__PORT).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes, each with its own Kafka producer (SITREP_INTAKE__WORKERS, default 1).",
)
@pass_context
def serve(ctx: Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the intake API with uvicorn until Ctrl-C; flushes Kafka on the way out.

    Needs Kafka (`sitrep stack up`, `sitrep topics ensure`) and at least one token
    (`sitrep intake token add`). Health at /healthz and /readyz; with a token also OpenAPI at
    /openapi.json, docs at /docs and Prometheus metrics at /metrics.
    """
    from kafka.errors import KafkaError

    from producers.intake.run import serve as run_server

    settings = ctx.settings
    try:
        run_server(
            settings,
            host or settings.intake.host,
            port or settings.intake.port,
            workers or settings.intake.workers,
        )
    except KafkaError as exc:
        fail(f"Kafka at {settings.kafka.bootstrap_servers} is not reachable: {exc}")


@intake.group("token")
def token() -> None:
    """Per-unit API tokens (stored hashed in SITREP_INTAKE__TOKENS_FILE)."""


@token.command("add")
@click.option("--unit", required=True, help='Reporting unit, e.g. "Polres Balikpapan".')
@click.option(
    "--role",
    default="polres",
    show_default=True,
    help="Reporter role written into every report (bhabinkamtibmas, patrol, polsek, ...).",
)
@click.option(
    "--regency",
    "regencies",
    multiple=True,
    help="Regency/city code the unit may report for (repeatable). None: any regency.",
)
@click.option("--province", help="Allow every regency of this province (e.g. 64).")
@click.option("--note", default="", help="Free text kept with the token (who, which device).")
@pass_context
def token_add(
    ctx: Context,
    unit: str,
    role: str,
    regencies: tuple[str, ...],
    province: str | None,
    note: str,
) -> None:
    """Create a token and print it ONCE; only its sha256 is stored."""
    from pydantic import ValidationError

    from producers.tokens import add_grant, make_grant, new_token
    from schemas.registry import AreaLevel, UnknownAreaError, default_registry
    from schemas.report import ReporterRole

    registry = default_registry()
    try:
        reporter_role = ReporterRole(role)
    except ValueError:
        fail(f"unknown role {role!r}; one of: {', '.join(r.value for r in ReporterRole)}")
    codes = list(regencies)
    try:
        if province:
            registry.require(province, AreaLevel.PROVINCE)
            codes.extend(area.code for area in registry.regencies(province))
        secret = new_token()
        grant = make_grant(
            secret,
            unit=unit,
            role=reporter_role,
            regencies=codes,
            registry=registry,
            created_at=datetime.now(UTC),
            note=note,
        )
    except UnknownAreaError as exc:
        fail(exc.message)
    except ValidationError as exc:
        fail(f"invalid token data: {exc.errors()[0]['msg']}")
    path = ctx.settings.intake.tokens_path(ctx.settings.home)
    add_grant(path, grant)
    scope = ", ".join(grant.regencies) or "any regency"
    show_new_token(
        f"token {grant.token_id} for {grant.unit} ({grant.role.value}; {scope})", path, secret
    )


@token.command("list")
@pass_context
def token_list(ctx: Context) -> None:
    """List tokens (ids, units, scopes; never the tokens)."""
    from producers.tokens import load_token_file

    path = ctx.settings.intake.tokens_path(ctx.settings.home)
    rows = [
        f"{grant.token_id:<14} {grant.unit:<36} {grant.role.value:<16} "
        + (", ".join(grant.regencies) or "any")
        for grant in load_token_file(path).tokens
    ]
    show_tokens(path, rows, header=f"{'id':<14} {'unit':<36} {'role':<16} regencies")


@token.command("revoke")
@click.argument("token_id")
@pass_context
def token_revoke(ctx: Context, token_id: str) -> None:
    """Remove a token; a running intake stops accepting it within seconds."""
    from producers.tokens import revoke_grant

    revoke_token(revoke_grant, ctx.settings.intake.tokens_path(ctx.settings.home), token_id)


# --- sitrep produce -----------------------------------------------------------------------------


@click.command()
@click.argument("files", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    help="Input format; auto goes by the file suffix (.csv, else JSON Lines; stdin: jsonl).",
)
@click.option("--allow-rejects", is_flag=True, help="Exit 0 even if lines were rejected.")
@click.option("--rate", type=float, default=None, help="Reports per second (default: max).")
@click.option(
    "--receipts",
    type=click.Path(dir_okay=False, writable=True),
    help="Write one JSON line per acknowledged report: report_id, partition, offset.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Validation processes beside the Kafka sender (default: 1 on a multi-core machine, "
    "0 = validate in this process).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_context
def produce(
    ctx: Context,
    files: tuple[str, ...],
    fmt: str,
    allow_rejects: bool,
    rate: float | None,
    receipts: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Validate field reports from FILES (or stdin) and write them to Kafka.

    JSON Lines (one report per line) or CSV (header row; nested fields as dotted columns:
    location.lat, location.lon, reporter.unit, reporter.role). Missing received_at is set to
    now, missing source to "file". Valid reports go to the reports topic keyed by regency;
    every bad line goes to the dead-letter topic with its line number and every error, and the
    run goes on. The summary counts only what Kafka acknowledged.

    Exit status: 0 all accepted, 1 lines rejected (unless --allow-rejects), 3 Kafka did not
    acknowledge everything or a validation process died (those reports were NOT accepted;
    re-run the file: downstream de-duplicates by report_id).
    """
    from producers.delivery import DeliveryTracker
    from producers.files import InputFormat, detect_format, read_inputs
    from producers.pump import PumpSummary, RatePacer, pump
    from producers.records import file_defaults
    from schemas.deadletter import Stage
    from schemas.registry import default_registry

    settings = ctx.settings
    names = list(files) or ["-"]
    for name in names:
        if name != "-" and not Path(name).is_file():
            fail(f"no such file: {name}")
    registry = default_registry()
    defaults = file_defaults(datetime.now(UTC))
    total = PumpSummary()
    # The pool forks, so it starts before the Kafka producer and its threads exist.
    with (
        _validation_pool(workers, registry, defaults) as pool,
        _writer(ctx) as writer,
        _receipts_file(receipts) as receipt_out,
    ):
        tracker = DeliveryTracker(on_receipt=_receipt_writer(receipt_out))
        pacer = RatePacer(rate)
        with _progress(names) as advance:
            for name in names:
                chosen = InputFormat(fmt) if fmt != "auto" else None
                input_format = chosen or detect_format(name) or InputFormat.JSONL
                with _open_input(name) as stream:
                    summary = pump(
                        read_inputs(stream, input_format, registry, defaults, pool),
                        writer,
                        tracker,
                        stage=Stage.PRODUCE,
                        source="stdin" if name == "-" else f"file:{Path(name).name}",
                        pacer=pacer,
                        on_input=lambda parsed: advance(len(parsed.raw) + 1),
                    )
                _accumulate(total, summary)
                if summary.interrupted or summary.stopped_by:
                    break
        # The tracker is shared: its tally is the run's total.
        total.accepted = tracker.tally.accepted
        total.dead_lettered = tracker.tally.dead_lettered
        total.failed_reports = tracker.tally.failed_reports
        total.failed_dead_letters = tracker.tally.failed_dead_letters
    _print_summary(total, settings.kafka.topics.reports, settings.kafka.topics.deadletter, as_json)
    click.get_current_context().exit(_exit_status(total, allow_rejects))


def _accumulate(total: Any, summary: Any) -> None:
    total.read += summary.read
    total.rejected.update(summary.rejected)
    total.seconds += summary.seconds
    total.interrupted = total.interrupted or summary.interrupted
    total.stopped_by = total.stopped_by or summary.stopped_by


def _exit_status(summary: Any, allow_rejects: bool) -> int:
    if not summary.complete or summary.interrupted:
        return EXIT_NOT_ACKNOWLEDGED if not summary.complete else 130
    if summary.rejected_total and not allow_rejects:
        return EXIT_REJECTED
    return 0


def _print_summary(summary: Any, reports_topic: str, deadletter_topic: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
        return
    rate = summary.read / summary.seconds if summary.seconds else 0.0
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(summary.rejected.items()))
    click.echo(f"read          {summary.read:>9}  ({summary.seconds:.1f}s, {rate:,.0f}/s)")
    click.echo(f"accepted      {summary.accepted:>9}  acknowledged on {reports_topic}")
    rejected_line = f"rejected      {summary.rejected_total:>9}"
    if summary.rejected_total:
        rejected_line += (
            f"  {summary.dead_lettered} dead-lettered on {deadletter_topic} ({reasons})"
        )
    click.echo(rejected_line)
    if summary.failed_reports or summary.failed_dead_letters:
        click.echo(
            f"NOT acknowledged by Kafka: {summary.failed_reports} report(s), "
            f"{summary.failed_dead_letters} dead letter(s): not accepted, send them again",
            err=True,
        )
    if summary.interrupted:
        click.echo("interrupted: the counts cover what was read before Ctrl-C", err=True)
    if summary.stopped_by:
        click.echo(
            f"stopped: {summary.stopped_by}; the rest was not sent, run the input again "
            "(downstream de-duplicates by report_id)",
            err=True,
        )


@contextlib.contextmanager
def _writer(ctx: Context) -> Iterator[Any]:
    from kafka.errors import KafkaError

    from producers.delivery import ReportWriter
    from sitrep import clients
    from sitrep.log_setup import quiet_library_logs

    settings = ctx.settings
    try:
        with quiet_library_logs():
            producer = clients.kafka_producer(settings, client_id="sitrep-produce")
    except KafkaError as exc:
        fail(f"Kafka at {settings.kafka.bootstrap_servers} is not reachable: {exc}")
    writer = ReportWriter(producer, settings.kafka.topics.reports, settings.kafka.topics.deadletter)
    try:
        yield writer
    finally:
        writer.close(timeout_s=30)


@contextlib.contextmanager
def _validation_pool(workers: int | None, registry: Any, defaults: Any) -> Iterator[Any]:
    import os

    from producers.files import ValidationPool

    count = workers if workers is not None else (1 if len(os.sched_getaffinity(0)) > 1 else 0)
    if count == 0:
        yield None
        return
    with ValidationPool(count, registry, defaults) as pool:
        yield pool


@contextlib.contextmanager
def _open_input(name: str) -> Iterator[BinaryIO]:
    if name == "-":
        yield sys.stdin.buffer
        return
    with open(name, "rb") as stream:
        yield stream


@contextlib.contextmanager
def _receipts_file(path: str | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
        return
    with open(path, "w", encoding="utf-8") as out:
        yield out


def _receipt_writer(out: IO[str] | None) -> Any:
    if out is None:
        return None

    def write(receipt: Any) -> None:
        out.write(
            json.dumps(
                {
                    "report_id": receipt.report_id,
                    "district": receipt.district,
                    "partition": receipt.partition,
                    "offset": receipt.offset,
                }
            )
            + "\n"
        )

    return write


@contextlib.contextmanager
def _progress(names: list[str]) -> Iterator[Any]:
    """A progress bar on stderr when it is a terminal and the input sizes are known."""
    if not sys.stderr.isatty() or "-" in names:
        yield lambda _bytes: None
        return
    total = sum(Path(name).stat().st_size for name in names)
    with click.progressbar(length=total, label="producing", file=sys.stderr) as bar:
        yield bar.update


# --- sitrep simulate ----------------------------------------------------------------------------


@click.command()
@click.argument("scenario", required=False)
@click.option("--list", "list_only", is_flag=True, help="List the shipped scenarios and exit.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same reports.")
@click.option(
    "--start", help="Scenario time to start at: a date (2024-11-27) or time (default: day 1)."
)
@click.option(
    "--duration",
    help="Scenario time to cover from the start, e.g. 6h or 2d (default: to the end).",
)
@click.option("--count", type=int, help="Stop after this many submissions.")
@click.option(
    "--rate",
    default=None,
    help="Submissions per second, or 'max' (default: max, unless --speedup).",
)
@click.option(
    "--speedup",
    type=float,
    help="Replay scenario time this many times faster than real time (e.g. 60: 1 h in 1 min).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write JSON Lines to this file ('-' = stdout) instead of Kafka.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_context
def simulate(
    ctx: Context,
    scenario: str | None,
    list_only: bool,
    seed: int,
    start: str | None,
    duration: str | None,
    count: int | None,
    rate: str | None,
    speedup: float | None,
    out: str | None,
    as_json: bool,
) -> None:
    """Generate realistic field reports from a SCENARIO (shipped name or YAML file).

    Deterministic for a --seed: the same scenario, seed, start and duration give the same
    bytes. Reports come in arrival order, including late and out-of-order ones, duplicates
    and a share of invalid reports (which land on the dead-letter topic when produced).
    Scripted escalation episodes have fixed report ids (PREFIX-ep-EPISODE-NNN).

    \b
    Examples:
      sitrep simulate --list
      sitrep simulate pilkada-kaltim-2024 --start 2024-11-27 --duration 1d --out voting.jsonl
      sitrep simulate pilkada-kaltim-2024 --start 2024-11-27T12:00 --speedup 60
      sitrep simulate pilkada-serentak-2024-nasional --rate max
    """
    from pydantic import ValidationError

    from producers.simulator.scenario import load_scenario, parse_duration, shipped_scenarios

    if list_only or scenario is None:
        if scenario is None and not list_only:
            click.echo("name a scenario (shipped ones below) or a YAML file\n", err=True)
        for name, title in shipped_scenarios().items():
            click.echo(f"{name:<34} {title}")
        return
    if rate is not None and speedup is not None:
        fail("--rate and --speedup are exclusive: pace by submissions or by scenario time")
    per_second = _parse_rate(rate)
    if speedup is not None and speedup <= 0:
        fail("--speedup must be positive")
    try:
        loaded = load_scenario(scenario)
        span = parse_duration(duration) if duration else None
    except (FileNotFoundError, ValueError, ValidationError) as exc:
        fail(f"cannot load scenario {scenario!r}: {exc}")
    _run_simulation(ctx, loaded, seed, start, span, count, per_second, speedup, out, as_json)


def _parse_rate(rate: str | None) -> float | None:
    if rate is None or rate == "max":
        return None
    try:
        value = float(rate)
    except ValueError:
        fail(f"--rate must be a number of reports per second or 'max', not {rate!r}")
    if value <= 0:
        fail("--rate must be positive")
    return value


def _run_simulation(
    ctx: Context,
    scenario: Any,
    seed: int,
    start: str | None,
    span: Any,
    count: int | None,
    rate: float | None,
    speedup: float | None,
    out: str | None,
    as_json: bool,
) -> None:
    import itertools

    from producers.simulator.engine import Simulator, scenario_instant
    from producers.simulator.pacing import ScenarioClock
    from schemas.registry import default_registry

    registry = default_registry()
    try:
        simulator = Simulator(scenario, registry, seed)
        begin = scenario_instant(start, scenario) if start else None
    except ValueError as exc:
        fail(str(exc))
    if span is not None and begin is None:
        begin = scenario_instant(scenario.start.isoformat(), scenario)
    end = begin + span if begin is not None and span is not None else None
    records = simulator.records(begin, end)
    if count is not None:
        records = itertools.islice(records, count)
    if speedup is not None:
        records = ScenarioClock(speedup).paced(records)
    kinds: Counter[str] = Counter()

    def counted(stream: Iterator[Any]) -> Iterator[Any]:
        for record in stream:
            kinds[record.kind] += 1
            yield record

    source = f"simulate:{scenario.name}:seed={seed}"
    if out is not None:
        written, interrupted = _write_jsonl(counted(records), out, rate)
        summary = {"written": written, "by_kind": dict(sorted(kinds.items())), "out": out}
        summary["interrupted"] = interrupted
        if as_json:
            click.echo(json.dumps(summary))
        elif out != "-":
            by_kind = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
            click.echo(f"wrote {written} submissions to {out} ({by_kind})")
        return
    _simulate_to_kafka(ctx, counted(records), source, rate, kinds, as_json)


def _write_jsonl(records: Iterator[Any], out: str, rate: float | None) -> tuple[int, bool]:
    from producers.pump import RatePacer

    pacer = RatePacer(rate)
    written = 0
    stream = sys.stdout.buffer if out == "-" else open(out, "wb")  # noqa: SIM115
    try:
        for record in records:
            pacer.wait()
            stream.write(record.raw + b"\n")
            written += 1
    except KeyboardInterrupt:
        return written, True
    finally:
        stream.flush()
        if out != "-":
            stream.close()
    return written, False


def _simulate_to_kafka(
    ctx: Context,
    records: Iterator[Any],
    source: str,
    rate: float | None,
    kinds: Counter[str],
    as_json: bool,
) -> None:
    from producers.delivery import DeliveryTracker
    from producers.files import Frame, ParsedInput, validate_frame
    from producers.pump import RatePacer, pump
    from producers.records import Defaults
    from schemas.deadletter import Stage
    from schemas.registry import default_registry

    registry = default_registry()
    nothing = Defaults()
    inputs = (
        ParsedInput(
            number, record.raw, validate_frame(Frame(number, record.raw), registry, nothing)
        )
        for number, record in enumerate(records, start=1)
    )
    settings = ctx.settings
    with _writer(ctx) as writer:
        tracker = DeliveryTracker()
        summary = pump(
            inputs, writer, tracker, stage=Stage.SIMULATE, source=source, pacer=RatePacer(rate)
        )
    if as_json:
        click.echo(json.dumps({**summary.as_dict(), "by_kind": dict(sorted(kinds.items()))}))
    else:
        _print_summary(
            summary, settings.kafka.topics.reports, settings.kafka.topics.deadletter, False
        )
        click.echo("by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    # Invalid submissions are part of a scenario: only missing acknowledgements fail the run.
    if not summary.complete:
        click.get_current_context().exit(EXIT_NOT_ACKNOWLEDGED)
