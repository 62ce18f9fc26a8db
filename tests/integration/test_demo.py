"""`sitrep demo` (what `make demo` runs) works end to end on the running stack.

Runs with topics, consumer groups, indices, ports and home of its own, so it neither sees nor
disturbs a demo a developer has running on the same stack.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from sitrep import clients
from sitrep.ports import free_ports
from sitrep.settings import Settings, TopicNames

pytestmark = pytest.mark.integration

SITREP = str(Path(sys.executable).with_name("sitrep"))


def test_demo_runs_the_pipeline_and_stops_it_again(local_stack: Settings, tmp_path: Path) -> None:
    tag = f"itdemo{uuid.uuid4().hex[:6]}"
    topics = {role: f"{tag}.{role}" for role in TopicNames.model_fields}
    worker_port, web_port, notify_port = free_ports(3)
    env = {
        **os.environ,
        "SITREP_HOME": str(tmp_path / "home"),
        "SITREP_KAFKA__BOOTSTRAP_SERVERS": local_stack.kafka.bootstrap_servers,
        "SITREP_ELASTICSEARCH__URL": local_stack.elasticsearch.url,
        **{f"SITREP_KAFKA__TOPICS__{role.upper()}": name for role, name in topics.items()},
        "SITREP_WORKER__APP_ID": f"{tag}-worker",
        "SITREP_WORKER__WEB_PORT": str(worker_port),
        "SITREP_INDEXER__GROUP_ID": f"{tag}-indexer",
        "SITREP_INDEXER__INDEX_PREFIX": tag,
        "SITREP_INDEXER__METRICS_PORT": "0",
        "SITREP_WEB__PORT": str(web_port),
        "SITREP_NOTIFY__GROUP_ID": f"{tag}-notify",
        "SITREP_NOTIFY__METRICS_PORT": str(notify_port),
        "SITREP_LOG__FORMAT": "json",
    }
    try:
        result = subprocess.run(
            [SITREP, "demo", "--start", "2024-11-27", "--duration", "12h"],
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        assert "situasi Kalimantan Timur (10/10 kabupaten/kota)" in result.stdout
        assert "Kota Balikpapan" in result.stdout
        assert "(belum ada status)" not in result.stdout
        assert 'pencarian "bentrok": 0 laporan' not in result.stdout
        assert 'pencarian "bentrok":' in result.stdout
        assert "peringatan: " in result.stdout and "peringatan: 0\n" not in result.stdout
        notified = (tmp_path / "home" / "logs" / "notifier.log").read_text()
        assert '"delivered"' in notified
        # The control room is up, shows every regency, and the scenario keeps flowing.
        web = f"http://127.0.0.1:{env['SITREP_WEB__PORT']}"
        assert f"control room {web}/" in result.stdout
        board = httpx.get(f"{web}/v1/board", timeout=10).json()
        regencies = {s["area_code"] for s in board["statuses"] if s["area_level"] == "regency"}
        assert len(regencies) == 10
        # The worker's pages, with the monitoring token the demo printed (and only with it).
        shown = re.search(r"worker +curl -H '(Authorization: Bearer \S+)' (\S+)", result.stdout)
        assert shown is not None, result.stdout[-2000:]
        name, value = shown.group(1).split(": ", 1)
        assert httpx.get(shown.group(2), timeout=10).status_code == 401
        areas = httpx.get(shown.group(2), headers={name: value}, timeout=10)
        assert areas.status_code == 200 and len(areas.json()) > 10
        before = _reports_written(local_stack, topics["reports"])
        deadline = time.monotonic() + 60
        while _reports_written(local_stack, topics["reports"]) == before:
            assert time.monotonic() < deadline, "the demo's feed wrote no report in 60 s"
            time.sleep(2)
    finally:
        stopped = subprocess.run(
            [SITREP, "demo", "stop"], env=env, capture_output=True, text=True, timeout=120
        )
        _remove(local_stack, tag, list(topics.values()))
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.count("stopped") == 5  # worker, indexer, web, notifier, feed


def _reports_written(settings: Settings, topic: str) -> int:
    from kafka import TopicPartition

    consumer = clients.kafka_consumer(settings, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def _remove(settings: Settings, tag: str, topics: list[str]) -> None:
    admin = clients.kafka_admin(settings)
    try:
        internal = [t for t in admin.list_topics() if t.startswith(f"{tag}-")]
        admin.delete_topics(topics + internal)
    finally:
        admin.close()
    es = clients.elasticsearch(settings)
    try:
        es.options(ignore_status=404).indices.delete(index=f"{tag}-*", expand_wildcards="all")
        es.options(ignore_status=404).indices.delete_index_template(name=f"{tag}-*")
        es.options(ignore_status=404).cluster.delete_component_template(name=f"{tag}-*")
    finally:
        es.close()
