"""The single ``sitrep`` entry point: one CLI, one subcommand group per role or tool."""

from __future__ import annotations

import click
from pydantic import ValidationError

from sitrep import __version__
from sitrep.commands import demo_cmd, schema_cmd, stack_cmd, topics_cmd
from sitrep.commands.common import Context
from sitrep.log_setup import configure_logging
from sitrep.settings import describe_settings_error, load_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


main.add_command(stack_cmd.stack)
main.add_command(topics_cmd.topics)
main.add_command(schema_cmd.schema)
main.add_command(demo_cmd.demo)
