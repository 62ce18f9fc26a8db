"""Apache Kafka, single node in KRaft mode, from the jars Maven resolves."""

from __future__ import annotations

import os
import string
import uuid
from pathlib import Path

from sitrep.log_setup import quiet_library_logs
from sitrep.settings import Settings

from .process import port_open
from .service import Service
from .tools import java_binary, run_maven

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


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

    def ready(self) -> bool:
        if not port_open("127.0.0.1", self.port):
            return False
        # The port opens before the broker has joined its own quorum; metadata proves it serves.
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaConnectionError, KafkaTimeoutError

        not_yet = (KafkaConnectionError, KafkaTimeoutError, OSError)
        with quiet_library_logs():
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=f"127.0.0.1:{self.port}",
                    request_timeout_ms=3000,
                    bootstrap_timeout_ms=3000,
                )
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
        template = (self.stack.assets_dir / "kafka" / "server.properties.template").read_text()
        rendered = string.Template(template).substitute(
            port=self.stack.kafka_port,
            controller_port=self.stack.kafka_controller_port,
            data_dir=self.data_dir,
            partitions=self.settings.kafka.partitions,
        )
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(rendered)

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


def _random_cluster_id() -> str:
    # Kafka cluster ids are 16 random bytes, URL-safe base64 without padding (22 characters).
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
