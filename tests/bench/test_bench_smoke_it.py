"""`sitrep bench all --smoke` runs every benchmark end to end on the real stack.

Tiny sizes: this keeps the harness working, it measures nothing (figures are never asserted
against a speed; see docs/performance.md for the measured ones).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sitrep import clients
from sitrep.settings import Settings

pytestmark = pytest.mark.integration

SITREP = str(Path(sys.executable).with_name("sitrep"))


def leftovers(
    settings: Settings,
    topic_left: Callable[[str], bool],
    group_left: Callable[[str], bool] = lambda group: False,
    wait_s: float = 60,
) -> tuple[set[str], set[str]]:
    """The topics and consumer groups the predicates pick, once the broker's deletions have
    gone through: it deletes topics in the background, so a run's may be listed for a while."""
    deadline = time.monotonic() + wait_s
    while True:
        admin = clients.kafka_admin(settings)
        try:
            topics = {t for t in admin.list_topics() if topic_left(t)}
            groups = {g["group_id"] for g in admin.list_groups() if group_left(g["group_id"])}
        finally:
            admin.close()
        if not (topics or groups) or time.monotonic() > deadline:
            return topics, groups
        time.sleep(2)


def test_every_benchmark_runs_and_writes_its_figures(local_stack: Settings) -> None:
    admin = clients.kafka_admin(local_stack)
    try:
        topics_before = set(admin.list_topics())
    finally:
        admin.close()
    result = subprocess.run(
        [SITREP, "bench", "all", "--smoke"], capture_output=True, text=True, timeout=900
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    summary_path = Path(result.stdout.strip().splitlines()[-1].removeprefix("result: "))
    summary = json.loads(summary_path.read_text())

    names = [f["name"] for f in summary["figures"]]
    for expected in (
        "model_validate_json (ceiling)",
        "raw kafka-python (ceiling)",
        "file producer",
        "raw helpers.streaming_bulk (ceiling)",
        "pipeline sustained (accepted, indexed)",
        "latency received -> handed to Kafka",
        "latency received -> status",
        "latency received -> searchable",
        "engine + rules (in process)",
    ):
        assert any(n.startswith(expected) for n in names), (expected, names)
    assert set(summary["params"]["results"]) == {
        "produce",
        "engine",
        "worker",
        "index",
        "alerts",
        "pipeline",
    }
    for figure in summary["figures"]:
        if "ceiling" in figure["name"] or figure["name"].startswith("pipeline"):
            assert figure["count"] > 0 and figure["seconds"] > 0, figure

    pipeline = json.loads(Path(summary["params"]["results"]["pipeline"]).read_text())
    params = pipeline["params"]
    accepted = sum(params["accepted"].values())
    assert accepted == sum(params["sent"].values())
    assert params["indexed"] == accepted  # nothing lost, nothing twice
    assert set(params["processes"]) >= {"intake", "worker", "indexer", "notifier", "kafka"}
    assert all(p["rss_max_mib"] for p in params["processes"].values())

    # Each run's scratch topics are deleted: left behind, thousands of partitions piled up on
    # the broker and slowed every later run. Not per run, so not counted: Kafka's own topics
    # and the two the produce benchmark keeps.
    topics = local_stack.kafka.topics
    reused = {f"{topics.reports}.bench", f"{topics.deadletter}.bench"}

    def new_scratch(topic: str) -> bool:
        return topic not in topics_before and not topic.startswith("__") and topic not in reused

    assert leftovers(local_stack, new_scratch) == (set(), set())


def test_a_benchmark_that_fails_half_way_leaves_no_topics_or_groups(
    local_stack: Settings, tmp_path: Path
) -> None:
    # A rule file the worker refuses at start: the benchmark fails after making its topics
    # and measuring its ceiling, the point where it used to leave everything behind.
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yaml").write_text("rules:\n  - name: [unclosed\n", encoding="utf-8")
    env = {**os.environ, "SITREP_WORKER__RULES_DIR": str(rules)}
    result = subprocess.run(
        [SITREP, "bench", "worker", "--count", "200"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "worker exited" in output, output[-3000:]
    run = re.search(r"run (bench-[0-9a-f]{8}):", output)
    assert run is not None, output[-3000:]
    prefix = run.group(1)

    def of_the_run(name: str) -> bool:
        return name.startswith(prefix)

    assert leftovers(local_stack, of_the_run, of_the_run) == (set(), set()), output[-3000:]


def test_the_worker_benchmark_builds_up_history_first_and_times_only_the_rest(
    local_stack: Settings,
) -> None:
    result = subprocess.run(
        [
            SITREP,
            "bench",
            "worker",
            "--count",
            "300",
            "--history-hours",
            "3",
            "--history-count",
            "400",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "after 400 reports over 3 h of history" in output, output[-3000:]
    printed = re.search(r"changelog: ([\d,]+) bytes and ([\d.]+) records per report", output)
    assert printed is not None, output[-3000:]
    path = Path(result.stdout.strip().splitlines()[-1].removeprefix("result: "))
    params = json.loads(path.read_text())["params"]
    assert (params["history_hours"], params["history_count"]) == (3, 400)
    # The timed phase counts the 300 timed reports only; the history went before it.
    assert sum(params["processed_per_worker"]) == 300
    # What the workers sent to their changelogs while the 300 were timed, per report. (Not
    # compared with the writes of the same time: a write held from before it may go in it.)
    changelog = params["changelog"]
    assert changelog["writes"] > 300  # a seen id per report, and more
    assert changelog["records_sent"] > 0 and changelog["bytes_sent"] > 0
    assert int(printed.group(1).replace(",", "")) == round(changelog["bytes_sent"] / 300)
    assert float(printed.group(2)) == round(changelog["records_sent"] / 300, 2)
    # The worker's memory at the end, as printed (a worker process takes well over 50 MiB).
    rss = re.search(r"worker RSS at the end: (\d+) MiB", output)
    assert rss is not None and params["worker_rss_mib"][0] > 50, output[-3000:]
    assert int(rss.group(1)) == round(params["worker_rss_mib"][0])
