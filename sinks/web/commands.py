"""``sitrep users add|list|remove``: the people who log in to the web service."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from sinks.web.operators import OperatorRole
from sitrep.commands.common import Context, fail, pass_context

__all__ = ["ROLE_CHOICE", "users"]

ROLE_CHOICE = click.Choice([role.value for role in OperatorRole])


@click.group()
def users() -> None:
    """Users of the web service (SITREP_WEB__USERS_FILE, passwords stored as scrypt hashes).

    Roles, each including the ones before it: viewer (board, feed), analyst (+ search,
    export, daily report), commander (+ acknowledge, silence), admin (+ rules, tokens).
    The web service notices changes with the next request.
    """


def read_password(from_stdin: bool) -> str:
    """The new password: one line of stdin, or typed twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    entered: str = click.prompt(
        "Password", hide_input=True, confirmation_prompt="Repeat the password"
    )
    return entered


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=ROLE_CHOICE, help="What they may do.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (scripts).")
@click.option("--replace", is_flag=True, help="Overwrite an existing user (new password, role).")
@pass_context
def users_add(ctx: Context, name: str, role: str, password_stdin: bool, replace: bool) -> None:
    """Add user NAME with a password (prompted twice, never echoed or stored in clear)."""
    from pydantic import ValidationError

    from sinks.web.users import add_user, new_user

    password = read_password(password_stdin)
    try:
        account = new_user(name, OperatorRole(role), password, datetime.now(UTC))
    except ValidationError:
        fail(f"{name!r} is no valid user name (letters, digits, space . @ ' - ; up to 64)")
    except ValueError as exc:
        fail(str(exc))
    path = ctx.settings.web.users_path(ctx.settings.home)
    try:
        add_user(path, account, replace=replace)
    except ValueError as exc:
        fail(f"{exc}; use --replace to set a new password or role")
    click.echo(f"user {name} ({role}) in {path}")


@users.command("list")
@pass_context
def users_list(ctx: Context) -> None:
    """Names, roles and when they were added (never the hashes)."""
    from sinks.web.users import load_user_file

    for account in load_user_file(ctx.settings.web.users_path(ctx.settings.home)).users:
        click.echo(f"{account.name:<32} {account.role.value:<10} {account.created_at:%Y-%m-%d}")


@users.command("remove")
@click.argument("name")
@pass_context
def users_remove(ctx: Context, name: str) -> None:
    """Remove user NAME; their sessions end with their next request."""
    from sinks.web.users import remove_user

    if not remove_user(ctx.settings.web.users_path(ctx.settings.home), name):
        fail(f"no user {name}")
    click.echo(f"removed {name}")
