"""The pure part of an intake request: decoding, server stamping, validation, fingerprints."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from producers.intake.checks import Checked, Stamp, check_batch, entry_of
from schemas.deadletter import Reason
from schemas.registry import AreaRegistry
from schemas.report import parse_report

MakeReport = Callable[..., dict[str, Any]]
NOW = datetime.now(UTC).replace(microsecond=0)
STAMP = Stamp(NOW, "Polres Balikpapan", "polres")


def check(body: Any, registry: AreaRegistry, max_batch: int = 10) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return check_batch(raw, STAMP, registry, max_batch)


def test_server_sets_received_at_and_reporter(
    registry: AreaRegistry, make_report: MakeReport
) -> None:
    document = make_report(reporter={"unit": "Kapolri", "role": "polda"})
    document["received_at"] = "2000-01-01T00:00:00+00:00"
    del document["source"], document["schema_version"]
    [item] = check(document, registry).items
    assert isinstance(item, Checked)
    stored = parse_report(item.value)
    assert stored.received_at == NOW
    assert (stored.reporter.unit, stored.reporter.role.value) == ("Polres Balikpapan", "polres")
    assert stored.source.value == "app" and stored.schema_version == 1
    assert (item.position, item.report_id, item.district) == (0, document["report_id"], "64.71")


def test_fingerprint_is_the_senders_content(
    registry: AreaRegistry, make_report: MakeReport
) -> None:
    document = make_report()
    first = check(document, registry).valid[0]
    later = check_batch(
        json.dumps(document).encode(),
        Stamp(NOW + timedelta(minutes=1), "Other unit", "patrol"),
        registry,
        10,
    ).valid[0]
    assert first.fingerprint == later.fingerprint
    assert first.value != later.value
    assert check({**document, "severity": 5}, registry).valid[0].fingerprint != first.fingerprint


def test_whole_request_problems(registry: AreaRegistry, make_report: MakeReport) -> None:
    broken = check(b"{nope", registry)
    assert broken.problem == "invalid_json" and broken.rejection.reason is Reason.INVALID_JSON
    assert check(b'"a string"', registry).problem == "invalid_json"
    assert check([], registry).problem == "empty_batch"
    too_many = check([make_report() for _ in range(11)], registry)
    assert (too_many.problem, too_many.size) == ("too_large", 11)


def test_every_invalid_report_of_a_batch_is_listed_with_its_raw_bytes(
    registry: AreaRegistry, make_report: MakeReport
) -> None:
    good, bad = make_report(), make_report(severity=0)
    future = make_report(occurred_at=(NOW + timedelta(minutes=6)).isoformat())
    result = check([good, bad, "not a report", future], registry)
    assert [item.position for item in result.valid] == [0]
    rejections = dict(result.rejections)
    assert set(rejections) == {1, 2, 3}
    assert [p["path"] for p in rejections[1].problems] == ["severity"]
    assert json.loads(rejections[1].raw) == bad
    assert rejections[2].problems[0]["type"] == "model_type"
    assert [p["type"] for p in rejections[3].problems] == ["occurred_in_future"]
    assert rejections[1].report_id == bad["report_id"]


def test_entry_of_a_body(make_report: MakeReport) -> None:
    single = json.dumps(make_report()).encode()
    assert entry_of(single, 0) == single
    batch = [make_report(), make_report()]
    assert json.loads(entry_of(json.dumps(batch).encode(), 1)) == batch[1]


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first, then the parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(parent: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == parent:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


SERVER_WITH_POOL = """
import os, sys, time
from producers.intake.checks import CheckerPool
pool = CheckerPool(2)
# A job per checker: the pool starts its processes on demand.
print(sorted({pool.executor.submit(os.getpid).result() for _ in range(8)}), flush=True)
time.sleep(600)
"""


def test_checkers_of_a_killed_server_exit_too() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_WITH_POOL], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line, "the server with the pool did not start"
        checkers = _children(server.pid) - {server.pid}
        assert set(json.loads(line)) <= checkers
    finally:
        server.kill()  # kill -9: no chance to shut the pool down
        server.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in checkers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in checkers), "checker processes outlived their server"
