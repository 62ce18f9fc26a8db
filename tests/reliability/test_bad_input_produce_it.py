"""The bad-input corpus through the file producer: `sitrep produce FILE` on the real Kafka.

One file holds every case, each between two valid lines. Expected: every bad line on the
dead-letter topic with its reason, errors and line number; every valid line (and every case
that is valid by the contract) on the reports topic exactly once; exit status 1 (lines were
rejected), as documented.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest_bad_input import (
    BadInputStack,
    Case,
    Outcome,
    case_report_id,
    cases_for,
    dead_letter_raw,
    error_paths,
    read_json,
    valid_report,
)

pytestmark = pytest.mark.integration

CASES = cases_for("produce")
SITREP = str(Path(sys.executable).parent / "sitrep")


@dataclass
class Line:
    number: int
    raw: bytes
    case: Case | None = None  # None: a valid line
    outcome: Outcome | None = None
    report_id: str | None = None


@dataclass
class ProduceRun:
    name: str
    lines: list[Line]
    exit_code: int
    summary: dict[str, Any]
    reports: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]


def produce(stack: BadInputStack, path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [SITREP, "produce", str(path), "--json", *args],
        env=stack.env(),
        capture_output=True,
        timeout=300,
        check=False,
    )
    stdout = done.stdout.decode(errors="replace").strip().splitlines()
    summary = json.loads(stdout[-1]) if stdout else {}
    return done.returncode, summary, done.stderr.decode(errors="replace")[-3000:]


@pytest.fixture(scope="module", params=[0, 1], ids=["inline", "validation-process"])
def run(
    request: pytest.FixtureRequest,
    bad_input_stack: BadInputStack,
    tmp_path_factory: pytest.TempPathFactory,
) -> ProduceRun:
    """The corpus file, produced once with validation in this process and once in a worker."""
    workers = request.param
    tag = uuid.uuid4().hex[:6]
    lines: list[Line] = []

    def add(raw: bytes, **what: Any) -> str | None:
        assert b"\n" not in raw
        lines.append(Line(len(lines) + 1, raw, **what))
        return what.get("report_id")

    for case, outcome in CASES:
        before = valid_report()
        add(json.dumps(before).encode(), report_id=before["report_id"])
        report_id = before["report_id"] if case.same_id_as_previous else case_report_id(case, tag)
        raw = case.build(report_id, before["report_id"])
        assert raw is not None
        add(raw, case=case, outcome=outcome, report_id=report_id)
        after = valid_report()
        add(json.dumps(after).encode(), report_id=after["report_id"])
    path = tmp_path_factory.mktemp("produce") / f"corpus-{tag}.jsonl"
    path.write_bytes(b"\n".join(line.raw for line in lines) + b"\n")

    exit_code, summary, stderr = produce(bad_input_stack, path, "--workers", str(workers))
    assert summary, f"no summary (exit {exit_code}):\n{stderr}"
    source = f"file:{path.name}"
    dead = [
        record
        for record in read_json(bad_input_stack.settings, bad_input_stack.deadletter)
        if record["source"] == source
    ]
    return ProduceRun(
        path.name,
        lines,
        exit_code,
        summary,
        read_json(bad_input_stack.settings, bad_input_stack.reports),
        dead,
    )


def test_exit_status_and_summary_count_every_line(run: ProduceRun) -> None:
    bad = [line for line in run.lines if line.outcome and not line.outcome.accepted]
    assert run.exit_code == 1  # documented: lines were rejected
    assert run.summary["read"] == len(run.lines)
    assert run.summary["rejected"] == len(bad)
    assert run.summary["dead_lettered"] == len(bad)
    assert run.summary["accepted"] == len(run.lines) - len(bad)
    assert run.summary["not_acknowledged"] == 0
    assert run.summary["dead_letters_not_acknowledged"] == 0


def test_every_bad_line_is_dead_lettered_with_its_reason_and_line(run: ProduceRun) -> None:
    by_line: dict[int, list[dict[str, Any]]] = {}
    for record in run.dead_letters:
        by_line.setdefault(record["line"], []).append(record)
    problems = []
    for line in run.lines:
        records = by_line.pop(line.number, [])
        if line.outcome is None or line.outcome.accepted:
            if records:
                problems.append(f"line {line.number} (valid) dead-lettered: {records[0]['errors']}")
            continue
        assert line.case is not None
        if len(records) != 1:
            problems.append(f"{line.case.name}: {len(records)} dead letters on line {line.number}")
            continue
        [record] = records
        raw = dead_letter_raw(record)
        if record["reason"] != line.outcome.reason:
            problems.append(f"{line.case.name}: reason {record['reason']}")
        if not set(line.outcome.paths) <= error_paths(record):
            problems.append(f"{line.case.name}: errors {sorted(error_paths(record))[:5]}")
        if record["stage"] != "produce":
            problems.append(f"{line.case.name}: stage {record['stage']}")
        if not (raw == line.raw or (record["raw_truncated"] and line.raw.startswith(raw))):
            problems.append(f"{line.case.name}: raw bytes differ")
    assert not problems, "\n".join(problems)
    assert not by_line, f"dead letters for lines never written: {sorted(by_line)}"


def test_every_valid_line_is_on_the_reports_topic_once(run: ProduceRun) -> None:
    counts: dict[str, int] = {}
    for report in run.reports:
        counts[report["report_id"]] = counts.get(report["report_id"], 0) + 1
    # The file producer does not dedupe (downstream does, by report_id): a line that reuses an
    # id with other content is written too, so that id is on the topic twice.
    wanted: dict[str, int] = {}
    for line in run.lines:
        if line.outcome is None or line.outcome.accepted:
            assert line.report_id is not None
            wanted[line.report_id] = wanted.get(line.report_id, 0) + 1
    problems = [
        f"{report_id}: {counts.get(report_id)} on the topic, {count} sent"
        for report_id, count in wanted.items()
        if counts.get(report_id) != count
    ]
    assert not problems, "\n".join(problems)
    for line in run.lines:
        if line.outcome is not None and line.outcome.verbatim:
            [stored] = [r for r in run.reports if r["report_id"] == line.report_id]
            assert stored["text"] == json.loads(line.raw)["text"]
            assert stored["source"] == "app"


CSV_HEADER = (
    "report_id,occurred_at,district,subdistrict,kind,category,severity,reporter.unit,"
    "reporter.role,phase,text,location.lat,location.lon"
)


def test_bad_csv_rows(bad_input_stack: BadInputStack, tmp_path: Path) -> None:
    """CSV has its own ways to be wrong: numbers that are not numbers, NaN and inf, cells
    beyond the header, quotes left open. Every bad row is dead-lettered with its line."""
    tag = uuid.uuid4().hex[:6]
    valid = valid_report()
    occurred = valid["occurred_at"]

    def row(report_id: str, severity: str = "2", lat: str = "-1.2", lon: str = "116.8") -> str:
        return (
            f"{report_id},{occurred},64.71,64.71.01,incident,crowd,{severity},Polsek Uji,polsek,"
            f'campaign,"aman, terkendali",{lat},{lon}'
        )

    rows = {
        2: (row(f"ok-a-{tag}"), None),
        3: (row(f"sev-{tag}", severity="tiga"), ["severity"]),
        4: (row(f"nan-{tag}", lat="NaN"), ["location.lat"]),
        5: (row(f"inf-{tag}", lon="inf"), ["location.lon"]),
        6: (row(f"big-{tag}", lat="1e400"), ["location.lat"]),
        7: (row(f"extra-{tag}") + ",surplus", [""]),
        8: (row(f"ok-b-{tag}"), None),
        9: (row(f"{{{{7*7}}}}-{tag}"), ["report_id"]),
        10: (row(f"ok-c-{tag}"), None),
    }
    path = tmp_path / f"rows-{tag}.csv"
    path.write_text(
        CSV_HEADER + "\n" + "\n".join(text for text, _ in rows.values()) + "\n", encoding="utf-8"
    )
    exit_code, summary, stderr = produce(bad_input_stack, path)
    assert exit_code == 1, stderr
    assert (summary["accepted"], summary["rejected"]) == (3, 6)
    dead = {
        record["line"]: record
        for record in read_json(bad_input_stack.settings, bad_input_stack.deadletter)
        if record["source"] == f"file:{path.name}"
    }
    assert set(dead) == {n for n, (_, paths) in rows.items() if paths}
    for number, (_, paths) in rows.items():
        if paths:
            assert dead[number]["reason"] == "validation_failed"
            assert set(paths) <= error_paths(dead[number]), dead[number]["errors"]
            assert dead[number]["raw_text"].startswith("report_id,occurred_at")
    stored = {r["report_id"] for r in read_json(bad_input_stack.settings, bad_input_stack.reports)}
    assert {f"ok-a-{tag}", f"ok-b-{tag}", f"ok-c-{tag}"} <= stored
