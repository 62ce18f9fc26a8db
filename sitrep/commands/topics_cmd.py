"""``sitrep topics``: the pipeline's Kafka topics."""

from __future__ import annotations

import click

from sitrep import clients
from sitrep.log_setup import quiet_library_logs
from sitrep.topics import desired_topics, ensure_topics

from .common import Context, fail, pass_context


@click.group()
def topics() -> None:
    """Manage the Kafka topics of the pipeline (names and settings from DESIGN.md)."""


@topics.command()
@pass_context
def ensure(ctx: Context) -> None:
    """Create missing topics and align retention/compaction of existing ones (idempotent).

    Partitions default to 6 (SITREP_KAFKA__PARTITIONS); sitrep.status is compacted.
    """
    from kafka.errors import KafkaError, KafkaTimeoutError, SaslAuthenticationFailedError

    try:
        with quiet_library_logs():
            admin = clients.kafka_admin(ctx.settings, bootstrap_timeout_ms=10_000)
    except SaslAuthenticationFailedError as exc:
        fail(str(exc.args[0]))
    except KafkaTimeoutError:
        fail(
            f"no Kafka broker answers at {ctx.settings.kafka.bootstrap_servers}; "
            "start one with `sitrep stack up`"
        )
    try:
        changes = ensure_topics(admin, desired_topics(ctx.settings.kafka))
    except KafkaError as exc:
        fail(f"Kafka refused the topic change: {exc}")
    finally:
        admin.close()
    for change in changes:
        click.echo(f"{change.topic:<20} {change.action:<10} {change.detail}".rstrip())
