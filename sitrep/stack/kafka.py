"""Apache Kafka, single node in KRaft mode, from the jars Maven resolves."""

from __future__ import annotations

import os
import re
import string
import uuid
from pathlib import Path

from sitrep.log_setup import quiet_library_logs
from sitrep.settings import Settings

from .process import port_open
from .service import Service
from .tools import StackError, java_binary, run_maven

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
PLAIN_LISTENER = "PLAINTEXT"
SASL_LISTENER = "SASL_PLAINTEXT"
# The user name becomes the JAAS option key user_<name>: one word for Kafka's JAAS parser.
_JAAS_WORD = re.compile(r"[A-Za-z0-9._-]+")
# The password sits in JAAS quotes in a properties value, where quotes and backslashes escape.
_JAAS_QUOTABLE = re.compile(r"[!#-\[\]-~]+")


class KafkaService(Service):
    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.dir = self.layout.home / "kafka"
        self.data_dir = self.dir / "data"
        self.config_file = self.dir / "config" / "server.properties"
        self.jar_dir = self.layout.jars / f"kafka-{self.stack.kafka_version}"

    @property
    def port(self) -> int:
        return self.stack.kafka_port

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def version(self) -> str:
        return self.stack.kafka_version

    @property
    def main_log(self) -> Path:
        return self.log_dir / "server.log"

    def prepare(self) -> None:
        self._ensure_jars()
        self._render_config()
        self._format_storage_once()

    def command(self) -> list[str]:
        heap = self.stack.kafka_heap
        return [
            java_binary(self.stack),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.log_dir}",
            f"-Dlog4j.configuration=file:{self.stack.assets_dir / 'kafka' / 'log4j.properties'}",
            "-cp",
            f"{self.jar_dir}/*",
            MAIN_CLASS,
            str(self.config_file),
        ]

    @property
    def marker(self) -> str:
        return str(self.config_file)

    def preflight(self, running: bool) -> None:
        check_client_settings(self.settings)
        if running and self.config_file.exists():
            # A running broker keeps the listener it was started with; prepare() re-renders
            # the config only before a start.
            runs_sasl = f"{SASL_LISTENER}://" in self.config_file.read_text()
            if runs_sasl != self.stack.kafka_sasl:
                started = "with" if runs_sasl else "without"
                raise StackError(
                    f"Kafka is running {started} SASL, but SITREP_STACK__KAFKA_SASL is now "
                    f"{str(self.stack.kafka_sasl).lower()}; restart it to switch: "
                    "`sitrep stack down --only kafka` then `sitrep stack up`"
                )

    def ready(self) -> bool:
        if not port_open("127.0.0.1", self.port):
            return False
        # The port opens before the broker has joined its own quorum; metadata proves it serves.
        # The probe connects as every client does (SASL included), at this stack's port.
        from kafka.errors import (
            KafkaConnectionError,
            KafkaTimeoutError,
            SaslAuthenticationFailedError,
        )

        from sitrep import clients

        not_yet = (KafkaConnectionError, KafkaTimeoutError, OSError)
        with quiet_library_logs():
            try:
                admin = clients.kafka_admin(
                    self.settings,
                    bootstrap_servers=[f"127.0.0.1:{self.port}"],
                    client_id="sitrep-stack",
                    request_timeout_ms=3000,
                    bootstrap_timeout_ms=3000,
                )
            except SaslAuthenticationFailedError as exc:
                raise StackError(
                    f"Kafka on port {self.port}: {exc.args[0]}. A running broker keeps the user "
                    "it was started with; to change it: `sitrep stack down --only kafka` then "
                    "`sitrep stack up`"
                ) from None
            except not_yet:
                return False
            try:
                return bool(admin.describe_cluster().get("brokers"))
            except not_yet:
                return False
            finally:
                admin.close()

    def _ensure_jars(self) -> None:
        marker = self.jar_dir / ".complete"
        if marker.exists():
            return
        self.announce(f"resolving Kafka {self.version} jars with Maven (first run only)")
        run_maven(
            self.stack,
            self.stack.assets_dir / "kafka" / "pom.xml",
            [
                "-q",
                f"-Dkafka.version={self.version}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.jar_dir}",
            ],
            self.layout.logs / f"maven-kafka-{self.version}.log",
        )
        marker.write_text(self.version)

    def _render_config(self) -> None:
        rendered = render_config(self.settings, self.data_dir)
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only: with SASL the file holds the password. Written whole, then renamed.
        temporary = self.config_file.with_name(f".{self.config_file.name}-{uuid.uuid4().hex}")
        temporary.touch(mode=0o600)
        temporary.write_text(rendered)
        os.replace(temporary, self.config_file)

    def _format_storage_once(self) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id_file = self.dir / "cluster-id"
        if not cluster_id_file.exists():
            # Written atomically: a second `stack up` started at the same moment must never
            # read a half-written (empty) id.
            temporary = cluster_id_file.with_name(f".cluster-id-{uuid.uuid4().hex}")
            temporary.write_text(_random_cluster_id())
            os.replace(temporary, cluster_id_file)
        self.announce("formatting Kafka storage (KRaft, first run only)")
        self.run_java_tool(
            [
                STORAGE_TOOL,
                "format",
                "--ignore-formatted",
                "-t",
                cluster_id_file.read_text().strip(),
                "-c",
                str(self.config_file),
            ],
            classpath=f"{self.jar_dir}/*",
        )


def render_config(settings: Settings, data_dir: Path) -> str:
    """server.properties of the local broker: the template, plus the SASL block with
    SITREP_STACK__KAFKA_SASL (without it, the template alone as it always was)."""
    stack = settings.stack
    assets = stack.assets_dir / "kafka"
    rendered = string.Template((assets / "server.properties.template").read_text()).substitute(
        listener=SASL_LISTENER if stack.kafka_sasl else PLAIN_LISTENER,
        port=stack.kafka_port,
        controller_port=stack.kafka_controller_port,
        data_dir=data_dir,
        partitions=settings.kafka.partitions,
    )
    if stack.kafka_sasl:
        username, password = sasl_user(settings)
        sasl = string.Template((assets / "sasl.properties.template").read_text())
        rendered += sasl.substitute(username=username, password=password)
    return rendered


def sasl_user(settings: Settings) -> tuple[str, str]:
    """The one SASL/PLAIN user of the local broker, checked to fit its JAAS config line."""
    kafka = settings.kafka
    username = kafka.sasl_username or ""
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    if not _JAAS_WORD.fullmatch(username):
        raise StackError(
            "SITREP_STACK__KAFKA_SASL=true needs SITREP_KAFKA__SASL_USERNAME: letters, digits, "
            "'.', '_' or '-'"
        )
    if not _JAAS_QUOTABLE.fullmatch(password):
        raise StackError(
            "SITREP_STACK__KAFKA_SASL=true needs SITREP_KAFKA__SASL_PASSWORD: printable ASCII "
            "without spaces, quotes or backslashes"
        )
    return username, password


def check_client_settings(settings: Settings) -> None:
    """The clients (SITREP_KAFKA__*) must speak what the local listener speaks; otherwise
    the readiness probe, and every role after it, would wait for a broker that never answers."""
    kafka, sasl = settings.kafka, settings.stack.kafka_sasl
    wanted = SASL_LISTENER if sasl else PLAIN_LISTENER
    if kafka.security_protocol != wanted:
        raise StackError(
            f"the local Kafka listens with {wanted} (SITREP_STACK__KAFKA_SASL="
            f"{str(sasl).lower()}), but SITREP_KAFKA__SECURITY_PROTOCOL is "
            f"{kafka.security_protocol}; set it to {wanted}"
            + ("" if sasl else ", or SITREP_STACK__KAFKA_SASL=true for SASL_PLAINTEXT")
        )
    if sasl:
        if (kafka.sasl_mechanism or "PLAIN") != "PLAIN":
            raise StackError(
                "the local Kafka offers SASL mechanism PLAIN only; unset "
                f"SITREP_KAFKA__SASL_MECHANISM (is {kafka.sasl_mechanism}) or set it to PLAIN"
            )
        sasl_user(settings)


def _random_cluster_id() -> str:
    # Kafka cluster ids are 16 random bytes, URL-safe base64 without padding (22 characters).
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
