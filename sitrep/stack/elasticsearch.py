"""Elasticsearch, single node, from Elastic's jars on Maven Central and the project's launcher.

The launcher (deploy/local/elasticsearch) is a small Java program the project owns; Maven builds
it and copies its dependencies into the jar cache once.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from sitrep.settings import Settings

from .process import port_open
from .service import Service
from .tools import java_binary, java_major, run_maven

MAIN_CLASS = "id.sitrep.esnode.SitrepNode"
ES_VERSION = "8.19.21"


class ElasticsearchService(Service):
    name = "elasticsearch"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.dir = self.layout.home / "elasticsearch"
        self.build_dir = self.layout.jars / f"es-node-{ES_VERSION}"

    @property
    def port(self) -> int:
        return self.stack.es_port

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def version(self) -> str:
        return ES_VERSION

    @property
    def marker(self) -> str:
        return f"-Dsitrep.es.home={self.dir}"

    def prepare(self) -> None:
        complete = self.build_dir / ".complete"
        if complete.exists():
            return
        self.announce(
            f"building the Elasticsearch {ES_VERSION} launcher with Maven (first run only)"
        )
        run_maven(
            self.stack,
            self.stack.assets_dir / "elasticsearch" / "pom.xml",
            ["-q", f"-Des.version={ES_VERSION}", f"-Dsitrep.build.dir={self.build_dir}", "package"],
            self.layout.logs / f"maven-elasticsearch-{ES_VERSION}.log",
        )
        complete.write_text(ES_VERSION)

    def command(self) -> list[str]:
        heap, logs = self.stack.es_heap, self.log_dir
        java = java_binary(self.stack)
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        # Lucene and Elasticsearch call the foreign-memory API from the classpath on JDK 21+.
        native_access = ["--enable-native-access=ALL-UNNAMED"] if java_major(java) >= 21 else []
        return [
            java,
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-Xss1m",
            "-XX:+UseG1GC",
            "-XX:-UsePerfData",
            "-XX:-OmitStackTraceInFastThrow",
            "-XX:+HeapDumpOnOutOfMemoryError",
            f"-XX:HeapDumpPath={logs}",
            f"-XX:ErrorFile={logs}/hs_err_pid%p.log",
            f"-Djava.io.tmpdir={self.dir / 'tmp'}",
            "-Dfile.encoding=UTF-8",
            "-Djava.awt.headless=true",
            *native_access,
            self.marker,
            f"-Dsitrep.es.http.port={self.port}",
            "-cp",
            f"{self.build_dir}/sitrep-es-node.jar:{self.build_dir}/lib/*",
            MAIN_CLASS,
        ]

    @property
    def main_log(self) -> Path:
        return self.log_dir / "sitrep-local.log"

    def ready(self) -> bool:
        if not port_open("127.0.0.1", self.port):
            return False
        url = f"http://127.0.0.1:{self.port}/_cluster/health?wait_for_status=yellow&timeout=2s"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                health = json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return health.get("status") in ("green", "yellow")
