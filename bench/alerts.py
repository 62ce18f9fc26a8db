"""``sitrep bench alerts``: latency from a triggering report to its alert, under background load.

In one run, on scratch topics (``bench-<id>.*`` for every topic role, deleted afterwards):

* ``sitrep worker`` runs as a subprocess with a bench rule folder holding one ``keyword`` rule
  (term ``bom``) grouped by village, so every trigger (each in a different village) fires a new
  alert with its own alert id;
* ``sitrep notify`` runs as a subprocess with one webhook channel pointing at a local
  ``http.server`` receiver in this process, which records the arrival time and the body's
  ``alert_id`` / evidence report ids;
* background reports that match no rule (the ``bench worker`` mix of check-ins and incidents
  over the province, ``received_at`` = send time) are produced at ``--rate`` for ``--warmup``
  plus ``--duration`` seconds and a few more, while ``--triggers-per-s`` trigger reports are
  injected. Triggers of the warm-up are reported apart (the first alerts of a fresh worker and
  notifier pay one-off costs); the targets are judged on the rest, so no measured trigger
  meets the start or the end of the load.

Latency is measured from the trigger's ``received_at`` to (a) the Kafka record timestamp
(CreateTime) of its ``fired`` alert on the scratch alerts topic and (b) the arrival of the
webhook carrying it. A trigger is matched to its alert through ``evidence_report_ids``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click

from bench.harness import Figure, format_table, percentiles, scratch_run, write_result
from bench.worker import WorkerGroup, produce, templates, workers_option
from sitrep.commands.common import Context, fail, pass_context
from sitrep.ports import free_port
from sitrep.settings import Settings, TopicNames

TOPIC_TARGET_MS = 250.0
WEBHOOK_TARGET_MS = 1000.0
# Background load goes on this long after the last trigger: its end is not what is measured.
COOL_DOWN_S = 5.0
RULE_ID = "bench-bom"
CHANNEL = "bench-webhook"
SECRET_ENV = "SITREP_BENCH_WEBHOOK_SECRET"

RULES = f"""
- id: {RULE_ID}
  name: Bench kata kunci bom
  type: keyword
  scope: {{group_by: village}}
  params: {{terms: [bom], window: 10m}}
  tiers:
    warning:
      routes: [{{channel: {CHANNEL}}}]
  realert: 30m
  resolve_after: 30m
  messages:
    id: "Kata kunci {{terms}} di {{area_name}}{{late}}"
    en: "Term {{terms}} in {{area_name}}{{late}}"
"""


@dataclass
class Arrivals:
    """Per trigger report id: when its alert reached the topic / the webhook (epoch seconds)."""

    topic: dict[str, float] = field(default_factory=dict)
    webhook: dict[str, float] = field(default_factory=dict)
    alert_records: int = 0
    webhook_posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def follow_alerts(self, settings: Settings, topic: str) -> None:
        from kafka import TopicPartition

        from sitrep import clients

        consumer = clients.kafka_consumer(settings)
        tps = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        while not self.stop.is_set():
            for batch in consumer.poll(timeout_ms=100).values():
                for record in batch:
                    self.alert_records += 1
                    alert = json.loads(record.value)
                    if alert.get("change") != "fired":
                        continue
                    with self.lock:
                        for report_id in alert.get("evidence_report_ids", ()):
                            self.topic.setdefault(report_id, record.timestamp / 1000)
        consumer.close()

    def on_webhook(self, at: float, body: dict[str, Any]) -> None:
        alert = body.get("alert") or {}
        with self.lock:
            self.webhook_posts += 1
            if alert.get("change", body.get("change")) != "fired":
                return
            for report_id in alert.get("evidence_report_ids", ()):
                self.webhook.setdefault(report_id, at)


def receiver(arrivals: Arrivals) -> ThreadingHTTPServer:
    """A local webhook endpoint: records arrival time and the alert; always answers 200."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            at = time.time()
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            arrivals.on_webhook(at, body if isinstance(body, dict) else {})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass(frozen=True)
class Trigger:
    district: str
    subdistrict: str
    village: str


def trigger_places(settings: Settings, seed: int = 7) -> list[Trigger]:
    """Every village of the province once, shuffled so triggers spread over all partitions."""
    from schemas.registry import default_registry

    registry = default_registry()
    places = [
        Trigger(regency.code, kecamatan.code, village.code)
        for regency in registry.regencies(settings.province_code)
        for kecamatan in registry.districts(regency.code)
        for village in registry.villages(kecamatan.code)
    ]
    random.Random(seed).shuffle(places)
    return places


def render_trigger(report_id: str, place: Trigger, now: datetime) -> bytes:
    stamp = now.isoformat()
    report = {
        "report_id": report_id,
        "occurred_at": stamp,
        "received_at": stamp,
        "district": place.district,
        "subdistrict": place.subdistrict,
        "village": place.village,
        "kind": "incident",
        "category": "intimidation",
        "severity": 3,
        "incident_state": "open",
        "reporter": {"unit": "Polsek Bench", "role": "polsek"},
        "source": "app",
        "phase": "voting",
        "text": "Ada ancaman bom di dekat TPS; laporan uji.",
        "schema_version": 1,
    }
    return json.dumps(report, separators=(",", ":")).encode()


def inject(
    settings: Settings,
    topic: str,
    run: str,
    places: list[Trigger],
    per_s: float,
    count: int,
    sent: dict[str, float],
) -> None:
    """Send ``count`` trigger reports at ``per_s`` per second, each sent on its own."""
    from sitrep import clients

    producer = clients.kafka_producer(settings, linger_ms=0)
    started = time.perf_counter()
    for index in range(count):
        ahead = index / per_s - (time.perf_counter() - started)
        if ahead > 0:
            time.sleep(ahead)
        place = places[index % len(places)]
        report_id = f"{run}-t{index}"
        now = datetime.now(UTC)
        producer.send(
            topic, key=place.district.encode(), value=render_trigger(report_id, place, now)
        )
        sent[report_id] = now.timestamp()
    producer.flush()
    producer.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            fail(f"notifier did not start; see {log}")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)


def _latency_figures(
    prefix: str, topic_ms: list[float], webhook_ms: list[float], seconds: float, *, judged: bool
) -> list[Figure]:
    points = (50, 95, 99)
    return [
        Figure(
            f"{prefix}trigger -> {name}",
            len(samples),
            seconds,
            latency_ms=percentiles(samples, points),
            notes=f"target p99 < {target:.0f} ms" if judged else "not judged",
        )
        for name, samples, target in (
            ("alert topic", topic_ms, TOPIC_TARGET_MS),
            ("webhook", webhook_ms, WEBHOOK_TARGET_MS),
        )
    ]


@click.command()
@click.option("--rate", default=2000.0, show_default=True, help="Background reports per second.")
@click.option(
    "--warmup",
    default=10.0,
    show_default=True,
    help="Seconds of background load before the first trigger (not measured).",
)
@click.option("--duration", default=60.0, show_default=True, help="Seconds of load with triggers.")
@click.option(
    "--triggers-per-s",
    default=2.0,
    show_default=True,
    help="Trigger reports per second, each firing a new alert.",
)
@workers_option
@click.option("--keep", is_flag=True, help="Keep the scratch topics.")
@pass_context
def command(
    ctx: Context,
    rate: float,
    warmup: float,
    duration: float,
    triggers_per_s: float,
    workers: int,
    keep: bool,
) -> Path:
    """Report -> alert topic -> webhook latency under background load."""
    from sitrep import clients
    from sitrep.topics import TopicSpec, ensure_topics

    settings = ctx.settings
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    if rate <= 0 or duration <= 0 or triggers_per_s <= 0:
        fail("--rate, --duration and --triggers-per-s must be positive")
    if warmup < 0:
        fail("--warmup must not be negative")
    run = f"bench-{uuid.uuid4().hex[:8]}"
    partitions = settings.kafka.partitions
    names = {role: f"{run}.{role}" for role in TopicNames.model_fields}
    admin = clients.kafka_admin(settings)
    ensure_topics(
        admin,
        [
            TopicSpec(name, partitions, settings.kafka.replication_factor, {})
            for name in names.values()
        ],
    )
    admin.close()
    with scratch_run(settings, run, keep=keep):
        work_dir = settings.home / "bench" / run
        rules_dir = work_dir / "rules"
        rules_dir.mkdir(parents=True, exist_ok=True)
        (rules_dir / "bench.yaml").write_text(RULES, encoding="utf-8")

        arrivals = Arrivals()
        server = receiver(arrivals)
        hook_port = int(server.server_address[1])
        channels = work_dir / "channels.yaml"
        channels.write_text(
            f"channels:\n  {CHANNEL}:\n    type: webhook\n"
            f"    url: http://127.0.0.1:{hook_port}/hook\n    secret_env: {SECRET_ENV}\n",
            encoding="utf-8",
        )

        count = int(rate * (warmup + duration + COOL_DOWN_S))
        trigger_count = max(1, int(triggers_per_s * (warmup + duration)))
        items = templates(settings, count)
        places = trigger_places(settings)
        if trigger_count > len(places):
            click.echo(
                f"warning: {trigger_count} triggers but {len(places)} villages; "
                "later triggers reuse a village and extend its alert instead of firing"
            )
        click.echo(
            f"run {run}: {count} background reports at {rate:g}/s, {trigger_count} triggers at "
            f"{triggers_per_s:g}/s, {partitions} partitions, {workers} worker(s)"
        )

        topics_env = {f"SITREP_KAFKA__TOPICS__{role.upper()}": name for role, name in names.items()}
        worker_env = {
            **os.environ,
            **topics_env,
            "SITREP_WORKER__APP_ID": run,
            "SITREP_WORKER__RULES_DIR": str(rules_dir),
            "SITREP_WORKER__SITES_DIR": str(work_dir / "no-sites"),
            "SITREP_WORKER__HEARTBEAT_S": "3600",
            "SITREP_LOG__FORMAT": "json",
        }
        notify_port = free_port()
        notify_env = {
            **os.environ,
            **topics_env,
            "SITREP_NOTIFY__CHANNELS_FILE": str(channels),
            "SITREP_NOTIFY__METRICS_PORT": str(notify_port),
            "SITREP_NOTIFY__GROUP_ID": f"{run}-notify",
            "SITREP_LOG__FORMAT": "json",
            SECRET_ENV: uuid.uuid4().hex,
        }
        sitrep = str(Path(sys.executable).parent / "sitrep")
        notify_log = work_dir / "notify.log"
        group = WorkerGroup.start(worker_env, work_dir, workers)
        with notify_log.open("wb") as log:
            notifier = subprocess.Popen(
                [sitrep, "notify"], env=notify_env, stdout=log, stderr=subprocess.STDOUT
            )
        sent_at: list[float] = []
        trigger_sent: dict[str, float] = {}
        lag_samples: list[tuple[float, int]] = []
        processed = 0
        load_seconds = 0.0
        try:
            group.wait_ready(partitions)
            _wait_ready(notifier, notify_port, notify_log)
            follower = threading.Thread(
                target=arrivals.follow_alerts, args=(settings, names["alerts"]), daemon=True
            )
            follower.start()
            base = group.processed()
            sender = threading.Thread(
                target=produce, args=(settings, names["reports"], run, items, rate, sent_at)
            )
            injector = threading.Thread(
                target=inject,
                args=(
                    settings,
                    names["reports"],
                    run,
                    places,
                    triggers_per_s,
                    trigger_count,
                    trigger_sent,
                ),
            )
            started = time.time()
            sender.start()
            injector.start()
            total = count + trigger_count
            with click.progressbar(length=total, label="through the worker") as bar:
                deadline = time.monotonic() + warmup + duration + max(60.0, duration)
                while time.monotonic() < deadline:
                    time.sleep(1)
                    # max: a health page that did not answer counts as no progress, not as less
                    now_processed = max(processed, group.processed() - base)
                    lag_samples.append(
                        (time.time() - started, len(sent_at) + len(trigger_sent) - now_processed)
                    )
                    bar.update(now_processed - processed)
                    processed = now_processed
                    done = not sender.is_alive() and not injector.is_alive()
                    if done and not load_seconds:
                        load_seconds = time.time() - started
                    with arrivals.lock:
                        delivered = set(trigger_sent) <= set(arrivals.webhook)
                    if done and processed >= total and delivered:
                        break
            sender.join()
            injector.join()
            time.sleep(1)
            arrivals.stop.set()
            follower.join(10)
        finally:
            _stop(notifier)
            group.stop()
            server.shutdown()

        # ms to the alert topic / to the webhook, of the measured triggers and of the warm-up's
        topic_ms: list[float] = []
        webhook_ms: list[float] = []
        warm_topic_ms: list[float] = []
        warm_webhook_ms: list[float] = []
        # (seconds into the run, ms to the alert topic) of each trigger: where the slow ones sit
        timeline: list[tuple[float, float]] = []
        with arrivals.lock:
            for report_id, sent in trigger_sent.items():
                measured = sent - started >= warmup
                if report_id in arrivals.topic:
                    latency = (arrivals.topic[report_id] - sent) * 1000
                    (topic_ms if measured else warm_topic_ms).append(latency)
                    timeline.append((round(sent - started, 3), round(latency, 1)))
                if report_id in arrivals.webhook:
                    latency = (arrivals.webhook[report_id] - sent) * 1000
                    (webhook_ms if measured else warm_webhook_ms).append(latency)
        send_seconds = (sent_at[-1] - sent_at[0]) if len(sent_at) > 1 else 0.0
        trigger_seconds = duration
        figures = [
            Figure(
                "background reports sent", len(sent_at), send_seconds, notes=f"target {rate:g}/s"
            ),
            Figure("worker processed (incl. triggers)", processed, load_seconds),
            *_latency_figures("", topic_ms, webhook_ms, trigger_seconds, judged=True),
        ]
        if warm_topic_ms:
            figures += _latency_figures(
                "warm-up ", warm_topic_ms, warm_webhook_ms, warmup, judged=False
            )
        click.echo(format_table(figures))
        click.echo(
            f"achieved background rate: {figures[0].rate:.0f} reports/s (asked {rate:g}/s); "
            f"worker processed {processed} of {len(sent_at) + len(trigger_sent)} sent"
        )
        click.echo(
            f"triggers: sent {len(trigger_sent)}, alerted on topic "
            f"{len(topic_ms) + len(warm_topic_ms)}, "
            f"at webhook {len(webhook_ms) + len(warm_webhook_ms)}"
            f" ({len(warm_topic_ms)} in the warm-up); alert records read {arrivals.alert_records}, "
            f"webhook posts {arrivals.webhook_posts}"
        )
        for figure, target in ((figures[2], TOPIC_TARGET_MS), (figures[3], WEBHOOK_TARGET_MS)):
            p99 = figure.latency_ms.get("p99")
            verdict = "n/a" if p99 is None else ("met" if p99 < target else "MISSED")
            click.echo(
                f"{figure.name}: p99 {'-' if p99 is None else f'{p99:.0f}'} ms, "
                f"target < {target:.0f} ms: {verdict}"
            )
        peak_lag = max((lag for _, lag in lag_samples), default=0)
        click.echo(
            f"consumer lag (sent - processed), sampled each second: peak {peak_lag}, "
            f"last {lag_samples[-1][1] if lag_samples else 0}"
        )
        params: dict[str, object] = {
            "rate": rate,
            "warmup": warmup,
            "duration": duration,
            "triggers_per_s": triggers_per_s,
            "partitions": partitions,
            "workers": workers,
            "run": run,
            "triggers_sent": len(trigger_sent),
            "triggers_alerted": len(topic_ms) + len(warm_topic_ms),
            "triggers_webhooked": len(webhook_ms) + len(warm_webhook_ms),
            "warmup_triggers": len(warm_topic_ms),
            "worker_processed": processed,
            "targets_ms": {"topic_p99": TOPIC_TARGET_MS, "webhook_p99": WEBHOOK_TARGET_MS},
            "lag_samples": lag_samples,
            "trigger_timeline": timeline,
        }
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        result = write_result(
            settings.home / "bench" / f"alerts-{stamp}.json", "alerts", figures, params
        )
        click.echo(f"result: {result}")
        return result
