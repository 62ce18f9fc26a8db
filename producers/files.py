"""Reading report files: JSON Lines and CSV, from a path or stdin, one parsed input at a time.

No Kafka here. The stream is cut into frames (one JSON line, or one CSV row with its physical
lines), each frame is validated into a report ready for Kafka or a rejection, and every input
comes out as (line number, raw bytes, result) in file order, so the producer never stops at a
bad line and can dead-letter it with its number.

Validation costs about as much CPU as kafka-python's own send, so for large files it runs in a
separate process (``ValidationPool``) while this process feeds Kafka.
"""

from __future__ import annotations

import csv
import io
import itertools
import multiprocessing
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.pool import AsyncResult
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Final

from producers.records import (
    Defaults,
    Outbound,
    Rejection,
    parse_csv_row,
    parse_json_line,
)
from schemas.registry import AreaRegistry
from schemas.report import FieldReport

# Frames per round trip to a validation process: large enough to amortise pickling.
CHUNK: Final = 500


class InputFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


_SUFFIXES = {
    ".jsonl": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
    ".json": InputFormat.JSONL,
    ".csv": InputFormat.CSV,
}


def detect_format(name: str) -> InputFormat | None:
    """The format a file name implies, or None if it implies none."""
    return _SUFFIXES.get(Path(name).suffix.lower())


@dataclass(frozen=True, slots=True)
class Frame:
    """One input as cut from the stream: its first line number, its bytes, and for CSV the
    row already split into cells by column name (``None`` key: cells beyond the header)."""

    line: int
    raw: bytes
    row: dict[str | None, str | None] | None = None


@dataclass(frozen=True, slots=True)
class ParsedInput:
    line: int
    raw: bytes
    result: Outbound | Rejection


# --- framing -----------------------------------------------------------------------------------


def jsonl_frames(stream: BinaryIO) -> Iterator[Frame]:
    """One frame per non-blank line; blank lines are skipped (they carry nothing to lose)."""
    for number, line in enumerate(stream, start=1):
        raw = line.rstrip(b"\r\n")
        if raw.strip():
            yield Frame(number, raw)


class _LineRecorder:
    """Feeds text lines to csv.reader and remembers which physical lines made up each row.

    A quoted cell may span lines, so a row's raw bytes are the lines consumed since the last row.
    """

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.consumed: list[str] = []
        self.next_line = 1

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.consumed.append(line)
        return line

    def take_row(self) -> tuple[int, bytes]:
        first = self.next_line
        self.next_line += len(self.consumed)
        raw = "".join(self.consumed).rstrip("\r\n").encode("utf-8")
        self.consumed = []
        return first, raw


def csv_frames(stream: BinaryIO) -> Iterator[Frame]:
    """Header row first; nested fields flattened with dots (``location.lat``, ``reporter.unit``).

    The bytes kept for a row are the header line plus that row, so a dead-letter record can be
    read (and replayed) on its own.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    recorder = _LineRecorder(text)
    reader = csv.reader(recorder)
    header = next(reader, None)
    if header is None:
        return
    _, header_raw = recorder.take_row()
    columns = [name.strip() for name in header]
    for cells in reader:
        number, row_raw = recorder.take_row()
        if not any(cell.strip() for cell in cells):
            continue
        row: dict[str | None, str | None] = dict(zip(columns, cells, strict=False))
        if len(cells) > len(columns):
            row[None] = ",".join(cells[len(columns) :])
        elif len(cells) < len(columns):
            row.update(dict.fromkeys(columns[len(cells) :]))
        yield Frame(number, header_raw + b"\n" + row_raw, row)


def frames(stream: BinaryIO, fmt: InputFormat) -> Iterator[Frame]:
    return csv_frames(stream) if fmt is InputFormat.CSV else jsonl_frames(stream)


# --- validation --------------------------------------------------------------------------------


def validate_frame(
    frame: Frame, registry: AreaRegistry, defaults: Defaults
) -> Outbound | Rejection:
    return _validate(frame.line, frame.raw, frame.row, registry, defaults)


def _validate(
    line: int,
    raw: bytes,
    row: dict[str | None, str | None] | None,
    registry: AreaRegistry,
    defaults: Defaults,
) -> Outbound | Rejection:
    if row is None:
        result = parse_json_line(raw, registry, defaults, line=line)
    else:
        result = parse_csv_row(row, raw, registry, defaults, line=line)
    return Outbound.of(result) if isinstance(result, FieldReport) else result


def read_inputs(
    stream: BinaryIO,
    fmt: InputFormat,
    registry: AreaRegistry,
    defaults: Defaults,
    pool: ValidationPool | None = None,
) -> Iterator[ParsedInput]:
    """Every input of the stream, validated, in file order."""
    framed = frames(stream, fmt)
    if pool is None:
        for frame in framed:
            yield ParsedInput(frame.line, frame.raw, validate_frame(frame, registry, defaults))
        return
    yield from pool.validate(framed)


class ValidationPool:
    """Validation in worker processes, results in input order.

    The workers are forked, so they share the parent's already-loaded area registry pages;
    create the pool before any Kafka client (a fork must not copy a process with running
    client threads). Each worker holds (registry, defaults) set once by the initializer.
    """

    def __init__(self, workers: int, registry: AreaRegistry, defaults: Defaults) -> None:
        self._depth = 2 * workers + 1
        context = multiprocessing.get_context("fork")
        self._pool = context.Pool(workers, initializer=_init_worker, initargs=(registry, defaults))

    def validate(self, framed: Iterable[Frame]) -> Iterator[ParsedInput]:
        """Validated inputs in order; at most ``depth`` chunks are read ahead (bounded memory,
        unlike Pool.imap, which drains its whole input)."""
        window: deque[tuple[list[Frame], AsyncResult[list[Outbound | Rejection]]]] = deque()
        for chunk in _chunked(framed, CHUNK):
            # Plain tuples cross the process border: they pickle much faster than dataclasses.
            work = [(frame.line, frame.raw, frame.row) for frame in chunk]
            window.append((chunk, self._pool.apply_async(_validate_chunk, (work,))))
            if len(window) >= self._depth:
                yield from _joined(*window.popleft())
        while window:
            yield from _joined(*window.popleft())

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()

    def __enter__(self) -> ValidationPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _joined(
    chunk: list[Frame], pending: AsyncResult[list[Outbound | Rejection]]
) -> Iterator[ParsedInput]:
    for frame, result in zip(chunk, pending.get(), strict=True):
        yield ParsedInput(frame.line, frame.raw, result)


def _chunked(items: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# The worker process's own state, set once by the pool initializer (never in the parent).
_worker_state: dict[str, Any] = {}


def _init_worker(registry: AreaRegistry, defaults: Defaults) -> None:
    # Ctrl-C is the parent's to handle (it flushes and summarises); workers just end with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_state["registry"] = registry
    _worker_state["defaults"] = defaults


def _validate_chunk(
    work: list[tuple[int, bytes, dict[str | None, str | None] | None]],
) -> list[Outbound | Rejection]:
    registry, defaults = _worker_state["registry"], _worker_state["defaults"]
    return [_validate(line, raw, row, registry, defaults) for line, raw, row in work]
