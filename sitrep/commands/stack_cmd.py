"""``sitrep stack``: the local Kafka and Elasticsearch for development, tests and the demo."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict

import click

from sitrep import stack as local_stack
from sitrep.stack.process import tail
from sitrep.stack.roles import role_states

from .common import Context, fail, pass_context

SERVICE_CHOICE = click.Choice(["kafka", "elasticsearch"])


@click.group()
def stack() -> None:
    """Run a real single-node Kafka (KRaft) and Elasticsearch on 127.0.0.1, without Docker.

    Jars are resolved with Maven into SITREP_HOME/jars (default .sitrep/) on the first run and
    reused afterwards; data and logs live under the same folder.
    """


@stack.command()
@click.option("--only", type=SERVICE_CHOICE, help="Start just one service.")
@pass_context
def up(ctx: Context, only: str | None) -> None:
    """Start the stack (idempotent) and wait until both services answer."""
    began = time.monotonic()
    try:
        results = local_stack.up(ctx.settings, only)
    except local_stack.StackError as exc:
        fail(str(exc))
    for result in results:
        verb = "started" if result.started else "already running"
        click.echo(
            f"{result.name:<14} {verb} (pid {result.pid}, ready after {result.seconds:.1f}s)"
        )
    click.echo(
        f"stack ready in {time.monotonic() - began:.1f}s; logs under {ctx.settings.home.resolve()}"
    )


@stack.command()
@click.option("--only", type=SERVICE_CHOICE, help="Stop just one service.")
@pass_context
def down(ctx: Context, only: str | None) -> None:
    """Stop the processes this stack started (by pid file); nothing else is touched."""
    try:
        results = local_stack.down(ctx.settings, only)
    except local_stack.StackError as exc:
        fail(str(exc))
    for name, stopped in results:
        click.echo(f"{name:<14} {'stopped' if stopped else 'was not running'}")


@stack.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def status(ctx: Context, as_json: bool) -> None:
    """Say what runs: pid, port, memory (RSS) and where the logs are. Exit 3 if anything is down."""
    states = local_stack.status(ctx.settings)
    if as_json:
        click.echo(json.dumps([asdict(s) for s in states], default=str, indent=2))
    else:
        for s in states:
            if s.running:
                rss = f"{(s.rss_kib or 0) / 1024:.0f} MiB"
                line = f"running  pid {s.pid}  port {s.port}  rss {rss}"
            else:
                line = (
                    f"stopped  port {s.port} {'(taken by another process)' if s.port_open else ''}"
                )
            click.echo(f"{s.name:<14} {s.version:<8} {line}  logs {s.log_dir}")
        for role in role_states(ctx.settings):
            if role.pid is not None:
                line = f"running  pid {role.pid}  log {role.log_file}"
                click.echo(f"{role.name:<14} {'role':<8} {line}")
    if not all(s.running for s in states):
        raise SystemExit(3)


@stack.command()
@click.argument("service", type=SERVICE_CHOICE, required=False)
@click.option("-n", "--lines", default=40, show_default=True, help="Lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@pass_context
def logs(ctx: Context, service: str | None, lines: int, follow: bool) -> None:
    """Show where each service logs and the last lines of its main log."""
    chosen = [s for s in local_stack.services(ctx.settings) if service in (None, s.name)]
    for svc in chosen:
        main_log = svc.main_log
        click.echo(f"==> {svc.name}: {main_log} (all logs in {svc.log_dir})")
        if not follow:
            click.echo(tail(main_log, lines) or "(no log yet)")
    if follow:
        files = [str(svc.main_log) for svc in chosen]
        subprocess.run(["tail", "-n", str(lines), "-F", *files], check=False)
