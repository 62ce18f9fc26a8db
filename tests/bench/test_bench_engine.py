"""``sitrep bench engine``: the worker's own code per report, in one process, no broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from bench.engine import workload
from sitrep.settings import Settings
from streams.engine import Envelope
from streams.partitions import partition_for_key

SITREP = str(Path(sys.executable).with_name("sitrep"))


def test_batches_follow_kafkas_partitions_and_offsets() -> None:
    load = workload(Settings(), count=500, rate=2500, batch=7, partitions=6)
    seen = [record for _, records in load.batches for record in records]
    assert len(seen) == len(load.payloads) == 500
    for partition, records in load.batches:
        assert len(records) <= 7
        assert all(r.partition == partition for r in records)
        assert all(partition_for_key((r.key or b"").decode(), 6) == partition for r in records)
    for partition in {p for p, _ in load.batches}:
        offsets = [r.offset for p, rs in load.batches if p == partition for r in rs]
        assert offsets == list(range(len(offsets)))  # as one partition's consumer sees them


def _bench_engine(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SITREP, "bench", "engine", *args],
        env={**os.environ, "SITREP_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_command_writes_both_figures_next_to_the_validation_ceiling(tmp_path: Path) -> None:
    result = _bench_engine(tmp_path, "--count", "400")
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1].removeprefix("result: "))
    document = json.loads(path.read_text())
    figures = {f["name"]: f for f in document["figures"]}
    assert set(figures) == {"engine (in process)", "engine + rules (in process)"}
    for figure in figures.values():
        assert figure["count"] == 400
        assert figure["rate"] > 0
        assert figure["ceiling_name"] == "model_validate_json"
        assert figure["ceiling_rate"] > figure["rate"]
    assert "us/report" in result.stdout


def test_a_count_of_zero_is_refused_with_a_reason(tmp_path: Path) -> None:
    result = _bench_engine(tmp_path, "--count", "0")
    assert result.returncode != 0
    assert "--count must be at least 1" in result.stderr


def test_history_comes_first_untimed_and_batches_do_not_span_the_two_phases() -> None:
    load = workload(
        Settings(), count=300, rate=2500, batch=50, partitions=6, history_hours=2, history_count=600
    )
    history, timed = load.batches[: load.timed_from], load.batches[load.timed_from :]
    assert sum(len(records) for _, records in history) == 600
    assert sum(len(records) for _, records in timed) == 300 == len(load.payloads)

    def span(batches: list[tuple[int, list[Envelope]]]) -> timedelta:
        times = [
            datetime.fromisoformat(json.loads(record.value)["occurred_at"])
            for _, records in batches
            for record in records
        ]
        return max(times) - min(times)

    # Two hours of state before the timed reports, which come at 2,500/s.
    assert timedelta(hours=1, minutes=59) < span(history) <= timedelta(hours=2)
    assert span(timed) < timedelta(seconds=1)
