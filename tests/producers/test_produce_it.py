"""`sitrep produce` and `sitrep simulate` against the real Kafka: good lines on the reports
topic, bad lines on the dead-letter topic with their line numbers, nothing lost on a restart."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from producers.intake.run import KafkaReadiness
from producers.records import Defaults, Rejection, parse_json_line
from producers.simulator.engine import Simulator, scenario_instant
from producers.simulator.scenario import load_scenario
from schemas.registry import AreaRegistry
from sitrep.settings import Settings
from sitrep.stack import Service

pytestmark = pytest.mark.integration

MakeReport = Callable[..., dict[str, Any]]


def sitrep(*args: str, stdin: str | None = None, timeout: float = 120) -> Any:
    """Run the real CLI in its own process (the environment names the test stack)."""
    return subprocess.run(
        [sys.executable, "-c", "from sitrep.cli import main; main()", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "SITREP_LOG__LEVEL": "WARNING"},
        check=False,
    )


def ids(records: list[dict[str, Any]]) -> Counter[str]:
    return Counter(record["report_id"] for record in records)


def test_good_lines_to_reports_bad_lines_to_dead_letters(
    tmp_path: Path, make_report: MakeReport, topic_tail: Callable[[], Any], local_stack: Settings
) -> None:
    good_json = [make_report() for _ in range(4)]
    bad_severity = make_report(severity=9)
    lines = [json.dumps(d) for d in good_json[:2]]
    lines += ["", "{this is not json", json.dumps(bad_severity)]
    lines += [json.dumps(d) for d in good_json[2:]]
    jsonl = tmp_path / "radio-log.jsonl"
    jsonl.write_text("\n".join(lines) + "\n")

    header = "report_id,occurred_at,district,subdistrict,kind,category,severity,reporter.unit,"
    header += "reporter.role,phase,text,location.lat,location.lon"
    csv_good = [make_report() for _ in range(2)]
    rows = [header]
    for document in csv_good:
        rows.append(
            f"{document['report_id']},{document['occurred_at']},64.71,64.71.01,incident,"
            'crowd,2,Polsek Balikpapan Timur,patrol,campaign,"Massa berkumpul, aman",-1.24,116.85'
        )
    csv_bad = make_report()
    rows.append(
        f"{csv_bad['report_id']},{csv_bad['occurred_at']},64.71,,incident,crowd,tinggi,"
        "Polsek Balikpapan Timur,patrol,campaign,x,,"
    )
    csv_file = tmp_path / "hotline.csv"
    csv_file.write_text("\n".join(rows) + "\n")

    tail = topic_tail()
    result = sitrep("produce", str(jsonl), str(csv_file), "--json", "--workers", "1")
    assert result.returncode == 1, result.stderr  # rejects without --allow-rejects
    summary = json.loads(result.stdout)
    assert summary["read"] == 9
    assert summary["accepted"] == 6
    assert summary["rejected_by_reason"] == {"invalid_json": 1, "validation_failed": 2}
    assert summary["dead_lettered"] == 3

    reports = tail.read(local_stack.kafka.topics.reports)
    expected = {d["report_id"] for d in good_json + csv_good}
    assert ids(reports) == Counter(expected)  # exactly the good ones, once each
    located = next(r for r in reports if r["report_id"] == csv_good[0]["report_id"])
    assert located["location"] == {"lat": -1.24, "lon": 116.85}
    assert located["source"] == "file" and located["text"] == "Massa berkumpul, aman"

    dead = tail.read(local_stack.kafka.topics.deadletter)
    where = sorted((d["source"], d["line"], d["reason"]) for d in dead)
    assert where == [
        ("file:hotline.csv", 4, "validation_failed"),
        ("file:radio-log.jsonl", 4, "invalid_json"),
        ("file:radio-log.jsonl", 5, "validation_failed"),
    ]
    assert all(d["stage"] == "produce" for d in dead)
    csv_dead = next(d for d in dead if d["source"] == "file:hotline.csv")
    assert csv_dead["raw_text"].startswith("report_id,occurred_at")  # header kept with the row
    assert [e["path"] for e in csv_dead["errors"]] == ["severity"]


def test_stdin_and_allow_rejects(
    make_report: MakeReport, topic_tail: Callable[[], Any], local_stack: Settings
) -> None:
    tail = topic_tail()
    document = make_report()
    data = json.dumps(document) + "\n{broken\n"
    result = sitrep("produce", "--allow-rejects", "--workers", "0", stdin=data)
    assert result.returncode == 0, result.stderr
    assert "accepted              1" in result.stdout
    assert "invalid_json 1" in result.stdout
    assert ids(tail.read(local_stack.kafka.topics.reports)) == Counter([document["report_id"]])
    [dead] = tail.read(local_stack.kafka.topics.deadletter)
    assert (dead["source"], dead["line"]) == ("stdin", 2)


def test_kafka_restart_during_produce_loses_nothing_acknowledged(
    tmp_path: Path,
    make_report: MakeReport,
    topic_tail: Callable[[], Any],
    local_stack: Settings,
    stack_services: dict[str, Service],
) -> None:
    documents = [make_report() for _ in range(300)]
    source = tmp_path / "reports.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in documents))
    receipts = tmp_path / "receipts.jsonl"
    tail = topic_tail()
    run = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sitrep.cli import main; main()",
            "produce",
            str(source),
            "--rate",
            "40",
            "--receipts",
            str(receipts),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SITREP_LOG__LEVEL": "WARNING"},
    )
    try:
        deadline = time.monotonic() + 60
        while not receipts.exists() or len(receipts.read_text().splitlines()) < 40:
            assert time.monotonic() < deadline, "produce did not get going"
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            time.sleep(0.2)
        kafka = stack_services["kafka"]
        kafka.stop()
        readiness = KafkaReadiness(local_stack, cache_s=0)
        assert asyncio.run(readiness()) is False  # what /readyz answers while Kafka is away
        time.sleep(2)
        kafka.start()
        assert asyncio.run(readiness()) is True
        readiness.close()
        out, err = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err.decode()
    summary = json.loads(out)
    acknowledged = [json.loads(line)["report_id"] for line in receipts.read_text().splitlines()]
    assert summary["accepted"] == len(acknowledged) == len(set(acknowledged)) == 300
    on_topic = ids(tail.read(local_stack.kafka.topics.reports))
    # Every id the summary claims is on the topic, exactly once (idempotent producer).
    missing = [i for i in acknowledged if on_topic[i] == 0]
    doubled = [i for i in acknowledged if on_topic[i] > 1]
    assert (missing, doubled) == ([], []), f"{len(missing)} missing, {len(doubled)} twice"


def test_simulated_invalid_reports_land_in_the_dead_letters(
    registry: AreaRegistry, topic_tail: Callable[[], Any], local_stack: Settings
) -> None:
    scenario = load_scenario("pilkada-kaltim-2024")
    start = scenario_instant("2024-11-27T06:00", scenario)
    expected = list(Simulator(scenario, registry, 5).records(start, start + timedelta(hours=3)))
    expected = expected[:400]
    valid = Counter(
        r.report_id
        for r in expected
        if not isinstance(parse_json_line(r.raw, registry, Defaults()), Rejection)
    )
    invalid = [r for r in expected if r.kind == "invalid"]
    assert invalid and any(r.kind == "duplicate" for r in expected)

    tail = topic_tail()
    result = sitrep(
        "simulate",
        "pilkada-kaltim-2024",
        "--seed",
        "5",
        "--start",
        "2024-11-27T06:00",
        "--duration",
        "3h",
        "--count",
        "400",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["read"] == 400 and summary["rejected"] == len(invalid)
    assert ids(tail.read(local_stack.kafka.topics.reports)) == valid  # duplicates included
    dead = tail.read(local_stack.kafka.topics.deadletter)
    assert len(dead) == len(invalid)
    assert {d["stage"] for d in dead} == {"simulate"}
    assert {d["source"] for d in dead} == {"simulate:pilkada-kaltim-2024:seed=5"}
