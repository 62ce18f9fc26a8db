"""Reading JSON Lines and CSV: line numbers, raw bytes for dead letters, file order."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from producers.files import (
    InputFormat,
    ValidationPool,
    ValidationWorkerDied,
    csv_frames,
    detect_format,
    jsonl_frames,
    read_inputs,
)
from producers.records import Defaults, Outbound, Rejection
from schemas.registry import AreaRegistry

MakeReport = Callable[..., dict[str, Any]]


def test_format_from_suffix() -> None:
    assert detect_format("a.jsonl") is InputFormat.JSONL
    assert detect_format("B.CSV") is InputFormat.CSV
    assert detect_format("a.ndjson") is InputFormat.JSONL
    assert detect_format("notes.txt") is None


def test_jsonl_frames_keep_line_numbers_and_skip_blank_lines() -> None:
    stream = io.BytesIO(b'{"a": 1}\n\n   \n{"b": 2}\r\n{"c"')
    frames = list(jsonl_frames(stream))
    assert [(f.line, f.raw) for f in frames] == [
        (1, b'{"a": 1}'),
        (4, b'{"b": 2}'),
        (5, b'{"c"'),
    ]


def test_csv_frames_handle_quoted_newlines_and_keep_the_header() -> None:
    text = 'report_id,text,severity\nc-1,"baris satu\nbaris dua",2\n\nc-2,biasa,1,extra\nc-3\n'
    frames = list(csv_frames(io.BytesIO(text.encode())))
    assert [f.line for f in frames] == [2, 5, 6]
    assert frames[0].row == {"report_id": "c-1", "text": "baris satu\nbaris dua", "severity": "2"}
    assert frames[0].raw == b'report_id,text,severity\nc-1,"baris satu\nbaris dua",2'
    assert frames[1].row is not None and frames[1].row[None] == "extra"
    assert frames[2].row == {"report_id": "c-3", "text": None, "severity": None}


def test_csv_header_only_or_empty_file_has_no_inputs() -> None:
    assert list(csv_frames(io.BytesIO(b""))) == []
    assert list(csv_frames(io.BytesIO(b"report_id,text\n"))) == []


def _mixed_file(make_report: MakeReport, count: int) -> bytes:
    lines = []
    for index in range(count):
        if index % 7 == 3:
            lines.append(b"{not json")
        elif index % 7 == 5:
            lines.append(json.dumps(make_report(f"m-{index}", severity=0)).encode())
        else:
            lines.append(json.dumps(make_report(f"m-{index}")).encode())
    return b"\n".join(lines) + b"\n"


def test_inputs_come_out_in_file_order(registry: AreaRegistry, make_report: MakeReport) -> None:
    data = _mixed_file(make_report, 30)
    inputs = list(read_inputs(io.BytesIO(data), InputFormat.JSONL, registry, Defaults()))
    assert [i.line for i in inputs] == list(range(1, 31))
    kinds = ["bad" if isinstance(i.result, Rejection) else "ok" for i in inputs]
    assert kinds.count("bad") == 8
    accepted = [i.result.report_id for i in inputs if isinstance(i.result, Outbound)]
    assert accepted[:3] == ["m-0", "m-1", "m-2"]


def test_validation_pool_gives_the_same_results_in_the_same_order(
    registry: AreaRegistry, make_report: MakeReport
) -> None:
    data = _mixed_file(make_report, 1300)  # more than two chunks
    alone = list(read_inputs(io.BytesIO(data), InputFormat.JSONL, registry, Defaults()))
    with ValidationPool(2, registry, Defaults()) as pool:
        pooled = list(read_inputs(io.BytesIO(data), InputFormat.JSONL, registry, Defaults(), pool))
    assert pooled == alone


def test_a_killed_validation_process_is_a_clear_error_not_a_hang(
    registry: AreaRegistry, make_report: MakeReport
) -> None:
    data = _mixed_file(make_report, 1300)
    with ValidationPool(1, registry, Defaults()) as pool:
        ((process, _),) = pool._workers
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
        died = r"ended \(exit code -9\) before validating lines 1-"
        with pytest.raises(ValidationWorkerDied, match=died):
            list(read_inputs(io.BytesIO(data), InputFormat.JSONL, registry, Defaults(), pool))


def test_closing_the_pool_ends_its_processes(registry: AreaRegistry) -> None:
    pool = ValidationPool(2, registry, Defaults())
    processes = [process for process, _ in pool._workers]
    assert all(process.is_alive() for process in processes)
    pool.close()
    assert [process.exitcode for process in processes] == [0, 0]  # left on their own, not killed


def test_a_pool_left_mid_input_gives_right_answers_to_the_next_one(
    registry: AreaRegistry, make_report: MakeReport
) -> None:
    first = _mixed_file(make_report, 2000)
    second = b"\n".join(json.dumps(make_report(f"n-{i}")).encode() for i in range(700)) + b"\n"
    alone = list(read_inputs(io.BytesIO(second), InputFormat.JSONL, registry, Defaults()))
    with ValidationPool(1, registry, Defaults()) as pool:
        left = read_inputs(io.BytesIO(first), InputFormat.JSONL, registry, Defaults(), pool)
        assert next(left).line == 1
        left.close()  # as when the producer stops reading (Ctrl-C)
        pooled = list(
            read_inputs(io.BytesIO(second), InputFormat.JSONL, registry, Defaults(), pool)
        )
    assert pooled == alone
