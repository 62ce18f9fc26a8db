"""CLI of the notifier: ``sitrep notify [run]``, ``sitrep notify check``, ``sitrep notify test``."""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click
import structlog

from sitrep.commands.common import Context, fail, pass_context

if TYPE_CHECKING:
    from sinks.notify.config import ResolvedChannel
    from sitrep.settings import Settings

log = structlog.get_logger("sinks.notify")


def _load(settings: Settings, only: str | None = None) -> dict[str, ResolvedChannel]:
    from sinks.notify.config import ConfigError, load_channels

    try:
        return load_channels(settings.notify.channels_file, os.environ, only)
    except ConfigError as exc:
        fail(f"channels file not usable (SITREP_NOTIFY__CHANNELS_FILE): {exc}")


def _load_unresolved(settings: Settings) -> list[str]:
    from sinks.notify.config import ConfigError, parse_channels

    path = settings.notify.channels_file
    try:
        return list(parse_channels(path.read_text(encoding="utf-8"), str(path)).channels)
    except (ConfigError, OSError) as exc:
        fail(f"channels file not usable (SITREP_NOTIFY__CHANNELS_FILE): {exc}")


@click.group(invoke_without_command=True)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Prometheus /metrics and /healthz port (SITREP_NOTIFY__METRICS_PORT, default 9310; "
    "0 = off).",
)
@click.pass_context
def notify(click_ctx: click.Context, metrics_port: int | None) -> None:
    """Notify commanders of alerts: sitrep.alerts -> webhook, Slack/Mattermost, Telegram,
    e-mail, log.

    Without a subcommand: the same as `sitrep notify run`. Channels come from the YAML file in
    SITREP_NOTIFY__CHANNELS_FILE (see docs/notify.md); secrets from the environment variables
    it names.
    """
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(run, metrics_port=metrics_port)


@notify.command()
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Prometheus port (SITREP_NOTIFY__METRICS_PORT, default 9310; 0 = off).",
)
@pass_context
def run(ctx: Context, metrics_port: int | None) -> None:
    """Run the notifier until Ctrl-C or SIGTERM.

    Each (alert, state, tier, channel) is delivered once: delivery records on sitrep.deliveries
    are read back at start, and sitrep.alerts offsets are committed only when every
    notification up to them is final. Each channel has its own queue and retries; a channel
    that is down never holds up the others. On SIGTERM in-flight notifications get
    SITREP_NOTIFY__DRAIN_TIMEOUT_S to finish, then offsets are committed and it exits 0.
    """
    import logging

    from sinks.notify.metrics import NotifyMetrics
    from sinks.notify.runner import DeliveryWriter, Notifier, SilenceFollower, read_done_keys
    from sitrep import clients
    from sitrep.monitoring import MonitoringTokens, serve_metrics

    settings = ctx.settings
    cfg = settings.notify
    channels = _load(settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is too much
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        if stop.is_set():
            sys.exit(130)
        log.info("stopping: draining in-flight notifications", signal=signum)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    metrics = NotifyMetrics()
    topics = settings.kafka.topics
    since = datetime.now(UTC) - timedelta(days=cfg.lookback_days)
    reader = clients.kafka_consumer(settings, group_id=None, client_id="sitrep-notify-reader")
    try:
        done = read_done_keys(reader, topics.deliveries, since)
    finally:
        reader.close()
    silence_consumer = clients.kafka_consumer(
        settings, group_id=None, client_id="sitrep-notify-silences"
    )
    silences = SilenceFollower(silence_consumer, topics.silences, metrics)
    silences.catch_up()
    producer = clients.kafka_producer(settings, client_id="sitrep-notify")
    consumer = clients.kafka_consumer(
        settings,
        group_id=cfg.group_id,
        client_id="sitrep-notify",
        max_poll_records=500,
    )
    notifier = Notifier(
        settings,
        channels,
        consumer,
        DeliveryWriter(producer, topics.deliveries, metrics),
        silences,
        done,
        metrics,
    )
    positions = notifier.prepare()
    reader = clients.kafka_consumer(settings, group_id=None, client_id="sitrep-notify-reader")
    try:
        notifier.bootstrap_index(reader, positions)
    finally:
        reader.close()

    port = cfg.metrics_port if metrics_port is None else metrics_port
    server = None
    if port:
        import time

        try:
            server = serve_metrics(
                cfg.metrics_host,
                port,
                metrics.registry,
                lambda: time.time() - notifier.last_turn < 30,
                MonitoringTokens.of(settings, "notifier"),
                "sitrep-notify-metrics",
            )
        except OSError as exc:
            fail(f"metrics port {port} is not free ({exc}); choose another with --metrics-port")
        log.info("metrics", url=f"http://{cfg.metrics_host}:{port}/metrics")
    silences.follow(stop)
    try:
        notifier.run(stop)
    finally:
        producer.close(timeout=30)
        consumer.close()
        silences.join(5)
        if server is not None:
            server.shutdown()


@notify.command()
@pass_context
def check(ctx: Context) -> None:
    """Validate the channels file and the environment variables its secrets name.

    Exits 1 with one line per problem (channel, field, what is wrong); prints the channels
    (without secrets) when everything is in order.
    """
    from sinks.notify.config import channel_summary

    settings = ctx.settings
    channels = _load(settings)
    click.echo(f"{settings.notify.channels_file}: {len(channels)} channel(s) ok")
    for name, channel in channels.items():
        summary = channel_summary(channel)
        details = ", ".join(f"{k}={v}" for k, v in summary.items() if k != "type")
        click.echo(f"  {name:<24} {summary['type']:<9} {details}")


@notify.command()
@click.option("--channel", "channel_name", required=True, help="Channel name from the file.")
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    help="Chat id or e-mail address (repeatable); default: the channel's default_recipients.",
)
@pass_context
def test(ctx: Context, channel_name: str, recipients: tuple[str, ...]) -> None:
    """Send one test message to a channel (directly, not through Kafka; no delivery record).

    \b
    Example:
      sitrep notify test --channel telegram-pimpinan --recipient -1001234567890
    """
    from zoneinfo import ZoneInfo

    from schemas.alert import Alert, AlertRoute
    from sinks.notify.channels import SendError, build_sender
    from sinks.notify.policy import Notification
    from sinks.notify.render import render

    settings = ctx.settings
    everything = _load_unresolved(settings)
    if channel_name not in everything:
        fail(f"no channel {channel_name!r}; the file has: {', '.join(sorted(everything))}")
    channel = _load(settings, only=channel_name)[channel_name]
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    alert = Alert(
        alert_id=f"alert-test-{stamp}",
        rule_id="test",
        rule_name="Uji notifikasi" if settings.notify.language == "id" else "Notification test",
        rule_type="test",
        state="firing",
        tier="warning",
        area_code=settings.province_code,
        group_key=settings.province_code,
        first_fired_at=now,
        updated_at=now,
        message_id="Pesan uji dari sitrep notify. Tidak perlu tindakan.",
        message_en="Test message from sitrep notify. No action needed.",
        routes=(AlertRoute(channel=channel_name, recipients=recipients),),
    )
    notification = Notification(
        key=f"{alert.alert_id}/test/{channel_name}",
        alert=alert,
        channel=channel_name,
        recipients=recipients or channel.config.default_recipients,
    )
    rendered = render(notification, ZoneInfo(settings.timezone), settings.notify.language)
    sender = build_sender(channel, settings.notify.attempt_timeout_s)
    try:
        result = sender.send(notification, rendered, set())
    except SendError as exc:
        fail(f"{channel_name}: not delivered: {exc}")
    finally:
        sender.close()
    status = f" (HTTP {result.http_status})" if result.http_status else ""
    click.echo(f"{channel_name}: test message delivered{status}")
