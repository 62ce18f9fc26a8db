"""The single ``sitrep`` entry point: one CLI, one subcommand group per role or tool.

Subcommands are imported only when they run, so ``sitrep --help`` stays fast and a role that
needs Faust or FastAPI does not load them for every other command.
"""

from __future__ import annotations

import click
from pydantic import ValidationError

from sitrep import __version__
from sitrep.commands.common import Context, LazyGroup
from sitrep.log_setup import configure_logging
from sitrep.settings import describe_settings_error, load_settings

# name -> "module:attribute" of a click command or group, in the order --help lists them.
COMMANDS: dict[str, str] = {
    "stack": "sitrep.commands.stack_cmd:stack",
    "topics": "sitrep.commands.topics_cmd:topics",
    "schema": "sitrep.commands.schema_cmd:schema",
    "intake": "producers.commands:intake",
    "produce": "producers.commands:produce",
    "simulate": "producers.commands:simulate",
    "worker": "streams.commands:worker",
    "replay": "streams.commands:replay",
    "rules": "streams.rules.commands:rules",
    "index": "sinks.commands:index",
    "es": "sinks.commands:es",
    "search": "sinks.commands:search",
    "serve": "sinks.commands:serve",
    "alerts": "sinks.alerts.commands:alerts",
    "operators": "sinks.alerts.commands:operators",
    "users": "sinks.web.commands:users",
    "monitoring": "sitrep.commands.monitoring_cmd:monitoring",
    "notify": "sinks.notify.commands:notify",
    "report": "sinks.report.commands:report",
    "kibana": "sinks.kibana.commands:kibana",
    "bench": "bench.commands:bench",
    "chaos": "sitrep.chaos.commands:chaos",
    "demo": "sitrep.commands.demo_cmd:demo",
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="sitrep")
@click.option(
    "--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (SITREP_LOG__LEVEL)."
)
@click.pass_context
def main(ctx: click.Context, log_level: str | None) -> None:
    """sitrep: field situation reports -> Kafka -> live status and alerts -> Elasticsearch.

    Settings come from SITREP_* environment variables (nested with __, for example
    SITREP_KAFKA__BOOTSTRAP_SERVERS=10.0.0.5:9092) and from a .env file in the working directory.
    """
    try:
        settings = load_settings()
    except ValidationError as exc:
        raise click.ClickException(describe_settings_error(exc)) from None
    configure_logging((log_level or settings.log.level).upper(), settings.log.format)
    ctx.obj = Context(settings)
