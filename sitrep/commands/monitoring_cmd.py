"""``sitrep monitoring token``: the bearer tokens of the worker's web pages and the indexer's and
notifier's metrics servers (sitrep/monitoring.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from pydantic import ValidationError

from sitrep.monitoring import (
    add_monitoring_token,
    load_monitoring_file,
    new_monitoring_grant,
    revoke_monitoring_token,
)

from .common import Context, fail, pass_context, revoke_token, show_new_token, show_tokens


@click.group()
def monitoring() -> None:
    """Access to the worker's web pages (6066) and the indexer's (9108) and notifier's (9310)
    metrics: everything but their health checks needs a monitoring token."""


@monitoring.group("token")
def token() -> None:
    """Monitoring tokens (stored hashed in SITREP_MONITORING__TOKENS_FILE), e.g. the one
    Prometheus scrapes with."""


def _tokens_file(ctx: Context) -> Path:
    return ctx.settings.monitoring.tokens_path(ctx.settings.home)


@token.command("add")
@click.option("--name", required=True, help='Who uses the token, e.g. "prometheus".')
@pass_context
def token_add(ctx: Context, name: str) -> None:
    """Create a token and print it ONCE; only its sha256 is stored. The running roles
    accept it from their next request on."""
    try:
        secret, grant = new_monitoring_grant(name, datetime.now(UTC))
    except ValidationError as exc:
        fail(f"invalid token data: {exc.errors()[0]['msg']}")
    add_monitoring_token(_tokens_file(ctx), grant)
    show_new_token(f"token {grant.token_id} for {name}", _tokens_file(ctx), secret)


@token.command("list")
@pass_context
def token_list(ctx: Context) -> None:
    """Token ids, names and creation times (never the tokens)."""
    grants = load_monitoring_file(_tokens_file(ctx)).tokens
    show_tokens(
        _tokens_file(ctx),
        [f"{g.token_id:<14} {g.name:<32} {g.created_at.isoformat()}" for g in grants],
    )


@token.command("revoke")
@click.argument("token_id")
@pass_context
def token_revoke(ctx: Context, token_id: str) -> None:
    """Remove a token; the running roles refuse it from their next request on."""
    revoke_token(revoke_monitoring_token, _tokens_file(ctx), token_id)
