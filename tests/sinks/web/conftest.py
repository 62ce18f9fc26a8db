"""The control room in a real browser: Debian's chromium driven by Playwright, against
`sitrep serve` (and, where a test needs them, `sitrep worker` and `sitrep index`) on the real
local stack. Screenshots go to .sitrep/test-artifacts/ (SITREP_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sinks.es.setup import setup
from sitrep import clients
from sitrep.chromium import CHROMIUM, CHROMIUM_ARGS
from sitrep.ports import free_port
from sitrep.settings import Settings, TopicNames
from sitrep.topics import desired_topics, ensure_topics
from tests.processes import terminate
from tests.sinks.conftest import drop_indices

ARTIFACTS = Path(os.environ.get("SITREP_TEST_ARTIFACTS", ".sitrep/test-artifacts"))


@pytest.fixture
def web_settings(local_stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Every topic, the index prefix and the home of this test alone; templates set up."""
    tag = f"wb{uuid.uuid4().hex[:8]}"
    topics = TopicNames(**{name: f"{tag}.{name}" for name in TopicNames.model_fields})
    settings = local_stack.model_copy(
        update={
            "home": tmp_path / "home",
            "kafka": local_stack.kafka.model_copy(update={"topics": topics, "partitions": 3}),
            "indexer": local_stack.indexer.model_copy(
                update={"index_prefix": tag, "group_id": f"{tag}-indexer", "metrics_port": 0}
            ),
        }
    )
    admin = clients.kafka_admin(settings)
    ensure_topics(admin, desired_topics(settings.kafka))
    es = clients.elasticsearch(settings)
    setup(es, settings.indexer)
    yield settings
    try:
        admin.delete_topics(list(topics.model_dump().values()))
    finally:
        admin.close()
    try:
        drop_indices(es, tag)
    finally:
        es.close()


def role_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a `sitrep` role these settings."""
    return {
        **os.environ,
        "SITREP_HOME": str(settings.home),
        "SITREP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SITREP_ELASTICSEARCH__URL": settings.elasticsearch.url,
        **{f"SITREP_KAFKA__TOPICS__{name.upper()}": topic for name, topic in settings.kafka.topics},
        "SITREP_INDEXER__INDEX_PREFIX": settings.indexer.index_prefix,
        "SITREP_INDEXER__GROUP_ID": settings.indexer.group_id,
        "SITREP_INDEXER__METRICS_PORT": "0",
        "SITREP_LOG__FORMAT": "json",
    }


class WebServer:
    """`sitrep serve` as its own process; can be stopped and started again on its port."""

    def __init__(self, settings: Settings, log_file: Path) -> None:
        self.settings = settings
        self.port = free_port()
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        sitrep = str(Path(sys.executable).with_name("sitrep"))
        env = {**role_env(self.settings), "SITREP_WEB__PORT": str(self.port)}
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen([sitrep, "serve"], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"sitrep serve exited:\n{self.tail()}")
            try:
                board = httpx.get(f"{self.url}/v1/board", timeout=2).json()
                if board.get("caught_up"):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"sitrep serve not ready:\n{self.tail()}")

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)

    def tail(self, chars: int = 4000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:]


@pytest.fixture
def web_server(web_settings: Settings, tmp_path: Path) -> Iterator[WebServer]:
    server = WebServer(web_settings, tmp_path / "web.log")
    server.start()
    try:
        yield server
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n--- web log ---\n{server.tail()}") from None
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium (apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        yield launched
        launched.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
