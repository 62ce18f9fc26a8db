"""One chaos run's pipeline: intake, worker(s), indexer and notifier as real `sitrep`
processes on the local stack, with topics, indices and consumer groups of their own (named
after the run, removed afterwards), and the reads the invariants are checked on.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import structlog

from schemas.report import ReporterRole
from sitrep import clients
from sitrep.ports import free_port
from sitrep.settings import Settings, TopicNames
from sitrep.topics import drop_run

from .receiver import Receiver

log = structlog.get_logger("sitrep.chaos")

CHANNELS: Final = ("posko-webhook", "telegram-pimpinan", "email-kabag-ops", "log")
WEBHOOK_SECRET_ENV: Final = "SITREP_CHAOS_WEBHOOK_SECRET"
READY_TIMEOUT_S: Final = 120.0


@dataclass(frozen=True)
class RunNames:
    """Everything of one run is named after ``run_id`` (topics, indices, groups)."""

    run_id: str

    def topics(self) -> TopicNames:
        return TopicNames(
            **{role: f"{self.run_id}.{role.replace('_', '-')}" for role in TopicNames.model_fields}
        )

    @property
    def worker_app_id(self) -> str:
        return f"{self.run_id}-worker"


class RoleProcess:
    """One `sitrep <role>` process, started again after a kill with the same settings."""

    def __init__(
        self,
        name: str,
        args: tuple[str, ...],
        env: Mapping[str, str],
        log_file: Path,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        self.name = name
        self.args = args
        self.env = dict(env)
        self.log_file = log_file
        self.ready = ready
        self.process: subprocess.Popen[bytes] | None = None
        # Bytes any one file may grow to (RLIMIT_FSIZE): a full disk, for the next start.
        self.file_size_limit: int | None = None
        self.starts = 0
        self.crashes = 0  # exits nobody asked for
        self.killed = False  # by the fault, which starts it again itself

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, wait: bool = True) -> None:
        sitrep = str(Path(sys.executable).with_name("sitrep"))
        limit = self.file_size_limit
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                [sitrep, *self.args],
                env=self.env,
                # Under a file size limit the log goes through this process: only the role's
                # own files are on the full disk, its log is not.
                stdout=out if limit is None else subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a kill reaches this process only
            )
        if limit is not None:
            # Set before the role gets past its imports. Python ignores SIGXFSZ, so a write
            # beyond the limit fails with EFBIG as a full disk fails with ENOSPC.
            resource.prlimit(self.process.pid, resource.RLIMIT_FSIZE, (limit, limit))
            threading.Thread(
                target=_copy_output,
                args=(self.process.stdout, self.log_file),
                name=f"{self.name}-log",
                daemon=True,
            ).start()
        self.starts += 1
        self.killed = False
        if wait and self.ready is not None:
            self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited while starting:\n{self.tail()}")
            if self.ready is None or self.ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n{self.tail()}")

    def kill9(self) -> None:
        self.killed = True
        if self.process is not None and self.alive:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is None or not self.alive:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


def _partitions_of(consumer: Any, topic: str) -> list[Any]:
    """The topic's partitions; none while the broker has no metadata for it yet."""
    from kafka import TopicPartition

    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def _copy_output(stream: Any, log_file: Path) -> None:
    with log_file.open("ab") as out:
        for line in stream:
            out.write(line)
            out.flush()


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return check


class Pipeline:
    """The processes of one run and what they wrote."""

    def __init__(
        self, settings: Settings, names: RunNames, work: Path, receiver: Receiver, workers: int
    ) -> None:
        self.names = names
        self.work = work
        self.receiver = receiver
        topics = names.topics()
        self.settings = settings.model_copy(
            update={
                "kafka": settings.kafka.model_copy(update={"topics": topics}),
                "indexer": settings.indexer.model_copy(
                    update={"index_prefix": names.run_id, "group_id": f"{names.run_id}-indexer"}
                ),
            }
        )
        self.token = ""
        # Picked once: a role started again after a kill comes back on the same port.
        self._ports: list[int] = []
        self.intake_port = self._new_port()
        self.roles: dict[str, RoleProcess] = {}
        self._worker_count = workers

    def _new_port(self) -> int:
        port = free_port(avoid=self._ports)
        self._ports.append(port)
        return port

    # --- set-up ------------------------------------------------------------------------------

    def prepare(self) -> None:
        from producers.tokens import add_grant, make_grant, new_token
        from schemas.registry import default_registry
        from sitrep.topics import desired_topics, ensure_topics

        self.work.mkdir(parents=True, exist_ok=True)
        admin = clients.kafka_admin(self.settings)
        try:
            ensure_topics(admin, desired_topics(self.settings.kafka))
        finally:
            admin.close()
        self.token = new_token()
        grant = make_grant(
            self.token,
            unit="Posko Uji Chaos",
            role=ReporterRole.POLDA,
            regencies=(),
            registry=default_registry(),
            created_at=datetime.now(UTC),
        )
        add_grant(self.work / "tokens.yaml", grant)
        channels = ["channels:"]
        for channel in CHANNELS:
            channels += [
                f"  {channel}:",
                "    type: webhook",
                f"    url: {self.receiver.url(channel)}",
                f"    secret_env: {WEBHOOK_SECRET_ENV}",
                "    notify_on: [fired, escalated, acknowledged, resolved]",
            ]
        (self.work / "channels.yaml").write_text("\n".join(channels) + "\n", encoding="utf-8")
        self._define_roles()

    def _base_env(self) -> dict[str, str]:
        s = self.settings
        env = {
            **os.environ,
            "SITREP_HOME": str(self.work / "home"),
            "SITREP_KAFKA__BOOTSTRAP_SERVERS": s.kafka.bootstrap_servers,
            "SITREP_ELASTICSEARCH__URL": s.elasticsearch.url,
            "SITREP_LOG__FORMAT": "json",
            WEBHOOK_SECRET_ENV: "chaos-rahasia",
        }
        env.update({f"SITREP_KAFKA__TOPICS__{k.upper()}": v for k, v in s.kafka.topics})
        return env

    def _define_roles(self) -> None:
        base = self._base_env()
        run = self.names.run_id
        intake_env = {
            **base,
            "SITREP_INTAKE__PORT": str(self.intake_port),
            "SITREP_INTAKE__TOKENS_FILE": str(self.work / "tokens.yaml"),
            "SITREP_INTAKE__DEDUP_FILE": str(self.work / "intake-accepted.sqlite"),
            "SITREP_INTAKE__ACK_TIMEOUT_S": "10",
            # The run's one token stands for a gateway that sends for many units at once.
            "SITREP_INTAKE__RATE_LIMIT_PER_S": "0",
        }
        self.roles["intake"] = RoleProcess(
            "intake",
            ("intake", "serve"),
            intake_env,
            self.work / "intake.log",
            _http_ok(f"http://127.0.0.1:{self.intake_port}/readyz"),
        )
        for number in range(1, self._worker_count + 1):
            name = "worker" if number == 1 else f"worker-{number}"
            port = self._new_port()
            worker_env = {
                **base,
                "SITREP_WORKER__APP_ID": self.names.worker_app_id,
                "SITREP_WORKER__WEB_PORT": str(port),
                "SITREP_WORKER__DATA_DIR": str(self.work / f"{name}-state"),
                # Event time only: the same input gives the same statuses in every run.
                "SITREP_WORKER__CLOCK": "event",
                "SITREP_WORKER__EMIT_INTERVAL_MS": "200",
                # Decay alone re-sends a status only with the heartbeat: a short one renders
                # every area at the final stream time soon after the input ends.
                "SITREP_WORKER__HEARTBEAT_S": "3",
                "SITREP_WORKER__SESSION_TIMEOUT_S": "10",
            }
            self.roles[name] = RoleProcess(
                name,
                ("worker",),
                worker_env,
                self.work / f"{name}.log",
                _http_ok(f"http://127.0.0.1:{port}/healthz"),
            )
        self.roles["indexer"] = RoleProcess(
            "indexer",
            ("index",),
            {
                **base,
                "SITREP_INDEXER__INDEX_PREFIX": run,
                "SITREP_INDEXER__GROUP_ID": f"{run}-indexer",
                "SITREP_INDEXER__METRICS_PORT": str(self._new_port()),
            },
            self.work / "indexer.log",
        )
        notify_port = self._new_port()
        self.roles["notifier"] = RoleProcess(
            "notifier",
            ("notify",),
            {
                **base,
                "SITREP_NOTIFY__GROUP_ID": f"{run}-notify",
                "SITREP_NOTIFY__CHANNELS_FILE": str(self.work / "channels.yaml"),
                "SITREP_NOTIFY__METRICS_PORT": str(notify_port),
                "SITREP_NOTIFY__ATTEMPT_TIMEOUT_S": "2",
                "SITREP_NOTIFY__RETRY_BASE_MS": "250",
                "SITREP_NOTIFY__RETRY_MAX_MS": "4000",
                "SITREP_NOTIFY__MAX_ATTEMPTS": "30",
            },
            self.work / "notifier.log",
            _http_ok(f"http://127.0.0.1:{notify_port}/healthz"),
        )

    def start(self) -> None:
        for role in self.roles.values():
            role.start(wait=False)
        for role in self.roles.values():
            role.wait_ready()

    def supervise(self) -> list[str]:
        """Start again what exited by itself (as systemd or Kubernetes would); the names."""
        restarted = []
        for role in list(self.roles.values()):  # a fault may take a role out meanwhile
            if role.process is not None and not role.alive and not role.killed:
                role.crashes += 1
                log.warning("role exited, starting it again", role=role.name)
                role.start(wait=False)
                restarted.append(role.name)
        return restarted

    def stop(self) -> None:
        for role in self.roles.values():
            role.stop()

    def cleanup(self) -> None:
        """Remove the run's topics, consumer groups and indices."""
        from sinks.es.setup import drop_everything

        run = self.names.run_id
        admin = clients.kafka_admin(self.settings)
        try:
            drop_run(admin, run)
        except Exception as exc:
            log.warning("chaos clean-up incomplete", error=str(exc))
        finally:
            admin.close()
        es = clients.elasticsearch(self.settings)
        try:
            drop_everything(es, run)
        finally:
            es.close()

    # --- reads -------------------------------------------------------------------------------

    def _read_topic(self, topic: str) -> list[Any]:
        """Every record up to the end offsets at the start of the read. Reading until the topic
        has been quiet a while never ends on the status topic: each area's heartbeat is due on
        its own schedule, so some record arrives every few hundred milliseconds."""
        from sinks.notify.runner import read_range

        consumer = clients.kafka_consumer(self.settings, group_id=None)
        try:
            partitions = _partitions_of(consumer, topic)
            starts = consumer.beginning_offsets(partitions)
            records: list[Any] = []
            read_range(consumer, starts, consumer.end_offsets(partitions), records.append)
            return records
        finally:
            consumer.close()

    def statuses(self) -> dict[str, dict[str, Any]]:
        import json

        latest: dict[str, dict[str, Any]] = {}
        for record in self._read_topic(self.settings.kafka.topics.status):
            if record.value is None:
                continue
            status = json.loads(record.value)
            latest[status["area_code"]] = status
        return latest

    def alert_records(self) -> list[tuple[dict[str, Any], int]]:
        """Every alert record with its Kafka timestamp (ms)."""
        import json

        return [
            (json.loads(r.value), int(r.timestamp))
            for r in self._read_topic(self.settings.kafka.topics.alerts)
            if r.value is not None
        ]

    def dead_letters(self) -> list[dict[str, Any]]:
        import json

        return [
            json.loads(r.value)
            for r in self._read_topic(self.settings.kafka.topics.deadletter)
            if r.value is not None
        ]

    def delivery_records(self) -> list[dict[str, Any]]:
        import json

        return [
            json.loads(r.value)
            for r in self._read_topic(self.settings.kafka.topics.deliveries)
            if r.value is not None
        ]

    def worker_lag(self) -> int:
        from sitrep.topics import group_lag

        admin = clients.kafka_admin(self.settings)
        try:
            return group_lag(admin, self.names.worker_app_id, self.settings.kafka.topics.reports)
        finally:
            admin.close()

    def indexed_reports(self) -> list[tuple[str, str | None, str | None]]:
        """(report id, received_at, indexed_at) of every document in the reports index."""
        es = clients.elasticsearch(self.settings)
        alias = f"{self.names.run_id}-reports"
        try:
            es.options(ignore_status=404).indices.refresh(index=alias)
            found: list[tuple[str, str | None, str | None]] = []
            search_after: list[Any] | None = None
            while True:
                body: dict[str, Any] = {
                    "size": 5000,
                    "sort": [{"_doc": "asc"}],
                    "_source": ["received_at", "indexed_at"],
                    "query": {"match_all": {}},
                }
                if search_after is not None:
                    body["search_after"] = search_after
                page = es.options(ignore_status=404).search(index=alias, **body)
                hits = page.get("hits", {}).get("hits", [])
                for hit in hits:
                    source = hit.get("_source", {})
                    found.append((hit["_id"], source.get("received_at"), source.get("indexed_at")))
                if len(hits) < 5000:
                    return found
                search_after = hits[-1]["sort"]
        finally:
            es.close()
