"""What every subcommand shares: the per-invocation context and clean failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import click

from sitrep.settings import Settings


@dataclass(frozen=True)
class Context:
    """Built once per invocation at the entry point: the frozen settings every command reads."""

    settings: Settings


pass_context = click.make_pass_decorator(Context)


def fail(message: str) -> NoReturn:
    """Stop with a message the user can act on and exit status 1, without a traceback."""
    raise click.ClickException(message)
