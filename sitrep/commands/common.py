"""What every subcommand shares: the per-invocation context and clean failure."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import click

from sitrep.settings import Settings


@dataclass(frozen=True)
class Context:
    """Built once per invocation at the entry point: the frozen settings every command reads."""

    settings: Settings


pass_context = click.make_pass_decorator(Context)


def show_new_token(what: str, path: Path, token: str) -> None:
    """Print a token just made: what it is on stderr, the token itself alone on stdout (so
    ``$(sitrep ... add)`` captures it). The only time it is shown; ``path`` keeps its hash."""
    click.echo(what, err=True)
    click.echo(f"stored hashed in {path}; this is the only time the token is shown:", err=True)
    click.echo(token)


def show_tokens(path: Path, rows: Sequence[str], header: str | None = None) -> None:
    """One row per token of the file ``path`` (ids and names, never a token), or that it has
    none."""
    if not rows:
        click.echo(f"no tokens in {path}")
        return
    for line in (header, *rows) if header else rows:
        click.echo(line)


def revoke_token(revoke: Callable[[Path, str], bool], path: Path, token_id: str) -> None:
    """Remove the token ``token_id`` from the file ``path`` with ``revoke``; a clear failure
    when it is not there."""
    if not revoke(path, token_id):
        fail(f"no token {token_id} in {path}")
    click.echo(f"revoked {token_id}")


def fail(message: str) -> NoReturn:
    """Stop with a message the user can act on and exit status 1, without a traceback."""
    raise click.ClickException(message)


class LazyGroup(click.Group):
    """A group whose subcommands are ``module:attribute`` strings resolved on first use."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in self._lazy if self._available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._lazy or not self._available(cmd_name):
            return None
        module_name, attribute = self._lazy[cmd_name].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self._lazy[cmd_name]} is not a click command")
        return command

    def _available(self, name: str) -> bool:
        module_name = self._lazy[name].split(":")[0]
        spec = importlib.util.find_spec(module_name.split(".")[0])
        if spec is None:
            return False
        try:
            return importlib.util.find_spec(module_name) is not None
        except ModuleNotFoundError:
            return False
