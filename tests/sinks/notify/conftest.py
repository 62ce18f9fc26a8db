"""Fixtures of the notifier tests: alert builders, local receivers (webhook, Telegram stub,
SMTP), isolated topics, and `sitrep notify` as a real subprocess."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from schemas.alert import Alert, AlertRoute, make_alert_id
from schemas.report import report_to_json_bytes
from sinks.notify.channels import verify_signature
from sitrep import clients
from sitrep.ports import free_port
from sitrep.settings import Settings, TopicNames
from tests.monitoring import monitoring_auth, monitoring_env

WEBHOOK_SECRET = "uji-rahasia-posko"
TELEGRAM_TOKEN = "123456:uji-token"
AREA_NAMES = {"64": "Kalimantan Timur", "64.71": "Kota Balikpapan", "64.72": "Kota Samarinda"}


def make_alert(
    rule_id: str = "bentrok-freq",
    area_code: str = "64.71",
    *,
    state: str = "firing",
    tier: str = "warning",
    change: str = "fired",
    channels: tuple[str, ...] = ("log",),
    episode: str = "2024-02-10T09:00:00+00:00",
    updated_at: datetime | None = None,
    **overrides: Any,
) -> Alert:
    now = updated_at or datetime.now(UTC)
    fields: dict[str, Any] = {
        "alert_id": make_alert_id(rule_id, area_code, episode),
        "rule_id": rule_id,
        "rule_name": "Bentrokan beruntun",
        "rule_type": "frequency",
        "state": state,
        "tier": tier,
        "change": change,
        "area_code": area_code,
        "area_name": AREA_NAMES.get(area_code),
        "group_key": area_code,
        "first_fired_at": now - timedelta(minutes=5),
        "updated_at": now,
        "message_id": f"3 laporan bentrokan dalam 15 menit di {AREA_NAMES.get(area_code)}",
        "message_en": f"3 clash reports within 15 minutes in {AREA_NAMES.get(area_code)}",
        "evidence_report_ids": ("r-1", "r-2", "r-3"),
        "routes": tuple(AlertRoute(channel=c) for c in channels),
    }
    if state == "acknowledged":
        fields.update(acknowledged_by="AKBP Sutrisno", acknowledged_at=now)
    if state == "resolved":
        fields.update(resolved_at=now)
    fields.update(overrides)
    return Alert(**fields)


def alert_record(alert: Alert) -> tuple[bytes, bytes]:
    return alert.area_code.split(".")[0].encode(), alert.model_dump_json(exclude_none=True).encode()


# --- receivers -----------------------------------------------------------------------------------


@dataclass
class Received:
    key: str  # Idempotency-Key (webhook), chat_id|text (telegram)
    path: str
    body: dict[str, Any]
    accepted: bool = False  # the answer reached a client that was still waiting


@dataclass
class HttpReceivers:
    """One HTTP server: /hook/ok (verifies HMAC), /hook/fail (500), /hook/slow (sleeps), and a
    Telegram-compatible /bot<token>/sendMessage."""

    port: int = 0
    slow_s: float = 1.5
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[Received] = field(default_factory=list)
    bad_signatures: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str, accepted_only: bool = True) -> list[Received]:
        with self.lock:
            return [
                r for r in self.requests if r.path == path and (r.accepted or not accepted_only)
            ]

    def keys(self, path: str, accepted_only: bool = True) -> list[str]:
        return [r.key for r in self.on(path, accepted_only)]


def _start_http(receivers: HttpReceivers) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            path = self.path
            if path.startswith("/bot"):
                token = path[len("/bot") :].split("/")[0]
                if token != TELEGRAM_TOKEN or not path.endswith("/sendMessage"):
                    return self._answer(404, {"ok": False, "description": "Not Found"})
                body = json.loads(raw)
                item = Received(f"{body['chat_id']}|{body['text']}", "/telegram", body)
                self._store(item)
                item.accepted = self._answer(200, {"ok": True, "result": {"message_id": 1}})
                return None
            body = json.loads(raw)
            key = self.headers.get("Idempotency-Key", "")
            item = Received(key, path, body)
            if not verify_signature(
                WEBHOOK_SECRET.encode(), raw, self.headers.get("X-Sitrep-Signature")
            ):
                with receivers.lock:
                    receivers.bad_signatures += 1
                return self._answer(401, {"error": "bad signature"})
            self._store(item)
            if path == "/hook/fail":
                self._answer(500, {"error": "posko server down"})
                return None
            if path == "/hook/slow" and self._client_left_within(receivers.slow_s):
                return None  # the sender gave up (or died): nothing was accepted
            item.accepted = self._answer(200, {"ok": True})
            return None

        def _store(self, item: Received) -> None:
            with receivers.lock:
                receivers.requests.append(item)

        def _client_left_within(self, seconds: float) -> bool:
            readable, _, _ = select.select([self.connection], [], [], seconds)
            if not readable:
                return False
            try:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _answer(self, status: int, document: dict[str, Any]) -> bool:
            body = json.dumps(document).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
            except OSError:
                return False
            return True

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receivers.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def http_receivers() -> Iterator[HttpReceivers]:
    receivers = HttpReceivers()
    server = _start_http(receivers)
    yield receivers
    server.shutdown()


@dataclass
class Mailbox:
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: list[Any] = field(default_factory=list)

    def keys(self) -> list[str]:
        with self.lock:
            return [str(m["X-Sitrep-Notification-Key"]).strip() for m in self.messages]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = message_from_bytes(envelope.content, policy=policy.default)
            with box.lock:
                box.messages.append(message)
            return "250 OK"

    box.port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


# --- Kafka ---------------------------------------------------------------------------------------


@pytest.fixture
def notify_topics(local_stack: Settings) -> Iterator[Settings]:
    """Settings whose every topic (alerts, silences, deliveries, ...) belongs to this test."""
    from sitrep import clients
    from sitrep.topics import desired_topics, ensure_topics

    tag = f"nt{uuid.uuid4().hex[:8]}"
    topics = TopicNames(**{name: f"{tag}.{name}" for name in TopicNames.model_fields})
    kafka = local_stack.kafka.model_copy(update={"topics": topics, "partitions": 3})
    notify = local_stack.notify.model_copy(update={"group_id": f"{tag}-notify"})
    settings = local_stack.model_copy(update={"kafka": kafka, "notify": notify})
    admin = clients.kafka_admin(settings)
    ensure_topics(admin, desired_topics(settings.kafka))
    yield settings
    try:
        admin.delete_topics(list(topics.model_dump().values()))
    finally:
        admin.close()


def read_deliveries(settings: Settings) -> list[dict[str, Any]]:
    from sitrep import clients

    consumer = clients.kafka_consumer(
        settings, settings.kafka.topics.deliveries, group_id=None, consumer_timeout_ms=1500
    )
    try:
        return [json.loads(r.value) for r in consumer]
    finally:
        consumer.close()


class NotifierProcess:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log_file: Path) -> None:
        self.process = process
        self.metrics_port = port
        self.log_file = log_file

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:]

    def metric(self, name: str, **labels: str) -> float:
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = httpx.get(url, headers=monitoring_auth(), timeout=5).text
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def wait_ready(self, timeout_s: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"notifier exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=2).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"notifier not ready:\n{self.log_tail()}")

    def terminate(self, timeout_s: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)


def notifier_env(
    settings: Settings, channels_file: Path, port: int, **notify: Any
) -> dict[str, str]:
    cfg = settings.notify.model_copy(
        update={"channels_file": channels_file, "metrics_port": port, **notify}
    )
    return {
        **os.environ,
        "SITREP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        **{f"SITREP_KAFKA__TOPICS__{name.upper()}": topic for name, topic in settings.kafka.topics},
        **{
            f"SITREP_NOTIFY__{name.upper()}": str(value) for name, value in cfg.model_dump().items()
        },
        "SITREP_LOG__FORMAT": "json",
        "T_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "T_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
        **monitoring_env(),
    }


@pytest.fixture
def start_notifier() -> Iterator[Callable[..., NotifierProcess]]:
    """Start `sitrep notify` processes; whatever is still running at the end gets SIGKILL."""
    started: list[NotifierProcess] = []
    log_dir = Path(tempfile.mkdtemp(prefix="sitrep-notify-"))

    def start(settings: Settings, channels_file: Path, **notify: Any) -> NotifierProcess:
        port = free_port()
        log_file = log_dir / f"notify-{len(started)}.log"
        sitrep = str(Path(sys.executable).with_name("sitrep"))
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                [sitrep, "notify"],
                env=notifier_env(settings, channels_file, port, **notify),
                stdout=log,
                stderr=log,
            )
        notifier = NotifierProcess(process, port, log_file)
        started.append(notifier)
        notifier.wait_ready()
        return notifier

    yield start
    for notifier in started:
        if notifier.process.poll() is None:
            notifier.process.kill()
            notifier.process.wait()
    shutil.rmtree(log_dir, ignore_errors=True)


@contextmanager
def show_logs(*notifiers: NotifierProcess) -> Iterator[None]:
    try:
        yield
    except AssertionError as failure:
        logs = "\n".join(f"--- notifier log ---\n{n.log_tail()}" for n in notifiers)
        raise AssertionError(f"{failure}\n{logs}") from None


# --- the worker, for tests that need alerts fired by the real rule engine -------------------

WITA = ZoneInfo("Asia/Makassar")
T0 = datetime(
    2024, 11, 27, 8, 0, tzinfo=WITA
)  # voting day; old data: the worker runs on event time

RULES = """
- id: bentrok-uji
  name: Bentrok beruntun (uji)
  type: frequency
  filter: {categories: [clash], kinds: [incident]}
  scope: {areas: ["64.71"], group_by: regency}
  params: {window: 1h}
  tiers:
    warning:
      count: 2
      routes: [{channel: posko-webhook}, {channel: telegram-pimpinan}]
    critical:
      count: 3
      routes:
        - {channel: posko-webhook}
        - {channel: telegram-pimpinan}
        - {channel: email-kabag-ops}
  realert: 30m
  resolve_after: 30m
  messages:
    id: "{count} laporan bentrok di {area_name} dalam {window}"
    en: "{count} clash reports in {area_name} within {window}"
"""


class Worker:
    def __init__(self, settings: Settings, work: Path, rules_dir: Path, app_id: str) -> None:
        self.port = free_port()
        self.log_file = work / "worker.log"
        self.env = {
            **os.environ,
            "SITREP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            **{f"SITREP_KAFKA__TOPICS__{role.upper()}": t for role, t in settings.kafka.topics},
            "SITREP_WORKER__APP_ID": app_id,
            "SITREP_WORKER__WEB_PORT": str(self.port),
            "SITREP_WORKER__DATA_DIR": str(work / "state"),
            "SITREP_WORKER__RULES_DIR": str(rules_dir),
            "SITREP_WORKER__SITES_DIR": str(work / "no-sites"),
            "SITREP_WORKER__SESSION_TIMEOUT_S": "6",
            "SITREP_WORKER__EMIT_INTERVAL_MS": "200",
            "SITREP_LOG__FORMAT": "json",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        sitrep = str(Path(sys.executable).with_name("sitrep"))
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sitrep, "worker"], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"worker exited:\n{self.tail()}"
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
                    .json()
                    .get("status")
                    == "ok"
                ):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"worker not ready:\n{self.tail()}")

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def tail(self, chars: int = 5000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:]


def produce(settings: Settings, *reports: Any) -> None:
    producer = clients.kafka_producer(settings)
    try:
        for report in reports:
            producer.send(
                settings.kafka.topics.reports,
                key=report.district.encode(),
                value=report_to_json_bytes(report),
            )
        producer.flush(30)
    finally:
        producer.close()
