"""Reading report files: JSON Lines and CSV, from a path or stdin, one parsed input at a time.

No Kafka here. The stream is cut into frames (one JSON line, or one CSV row with its physical
lines), each frame is validated into a report ready for Kafka or a rejection, and every input
comes out as (line number, raw bytes, result) in file order, so the producer never stops at a
bad line and can dead-letter it with its number.

Validation costs about as much CPU as kafka-python's own send, so for large files it runs in a
separate process (``ValidationPool``) while this process feeds Kafka.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import multiprocessing
import pickle
import queue
import signal
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.connection import Connection
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
    """Validation in forked worker processes, results in input order.

    Plain pipes, no ``multiprocessing.Pool``: the Pool's three helper threads fought the
    Kafka sender thread for this process's GIL and cost more than the validation saved. Here
    this thread frames, sends each chunk to the workers in turn and reads their answers; a
    reader thread in each worker takes chunks off the pipe at once, so neither side can block
    the other while both write.

    The workers are forked, so they share the parent's already-loaded area registry pages;
    create the pool before any Kafka client (a fork must not copy a process with running
    client threads).
    """

    def __init__(self, workers: int, registry: AreaRegistry, defaults: Defaults) -> None:
        self._depth = 2 * workers + 1
        context = multiprocessing.get_context("fork")
        self._workers: list[tuple[Any, Connection]] = []
        for _ in range(workers):
            parent_end, child_end = context.Pipe(duplex=True)
            # The fork copies every parent end made so far; the child closes them, or a worker
            # would never see the parent hang up on another one.
            parent_ends = [end for _, end in self._workers] + [parent_end]
            process = context.Process(
                target=_serve_chunks,
                args=(child_end, parent_ends, registry, defaults),
                daemon=True,
            )
            process.start()
            child_end.close()
            self._workers.append((process, parent_end))
        self._turn = itertools.cycle(self._workers)

    def validate(self, framed: Iterable[Frame]) -> Iterator[ParsedInput]:
        """Validated inputs in order; at most ``depth`` chunks are in flight (bounded memory)."""
        window: deque[tuple[list[Frame], Any, Connection]] = deque()
        try:
            for chunk in _chunked(framed, CHUNK):
                process, connection = next(self._turn)
                # Plain tuples cross the process border: they pickle much faster than
                # dataclasses.
                work = [(frame.line, frame.raw, frame.row) for frame in chunk]
                try:
                    connection.send_bytes(pickle.dumps(work, pickle.HIGHEST_PROTOCOL))
                except OSError:
                    raise ValidationWorkerDied(_died(process, chunk)) from None
                window.append((chunk, process, connection))
                if len(window) >= self._depth:
                    yield from _joined(*window.popleft())
            while window:
                yield from _joined(*window.popleft())
        finally:
            # Left early (Ctrl-C, an error): read the answers nobody will use, or the next
            # input would be paired with them.
            for _, _, connection in window:
                with contextlib.suppress(EOFError, OSError):
                    connection.recv_bytes()

    def close(self) -> None:
        for process, connection in self._workers:
            connection.close()  # the worker's reader sees the end and the worker exits
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()

    def __enter__(self) -> ValidationPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ValidationWorkerDied(RuntimeError):
    """A validation process ended before answering (killed, or out of memory)."""


def _joined(chunk: list[Frame], process: Any, connection: Connection) -> Iterator[ParsedInput]:
    try:
        results: list[Outbound | Rejection] = pickle.loads(connection.recv_bytes())
    except (EOFError, OSError):
        raise ValidationWorkerDied(_died(process, chunk)) from None
    for frame, result in zip(chunk, results, strict=True):
        yield ParsedInput(frame.line, frame.raw, result)


def _died(process: Any, chunk: list[Frame]) -> str:
    process.join(timeout=1)  # for its exit code
    return (
        f"validation process {process.pid} ended (exit code {process.exitcode}) "
        f"before validating lines {chunk[0].line}-{chunk[-1].line}"
    )


def _chunked(items: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _serve_chunks(
    connection: Connection,
    parent_ends: list[Connection],
    registry: AreaRegistry,
    defaults: Defaults,
) -> None:
    """A validation worker: chunks in, results out, in order, until the parent hangs up."""
    # Ctrl-C is the parent's to handle (it flushes and summarises); workers just end with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for end in parent_ends:
        end.close()
    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def receive() -> None:
        try:
            while True:
                inbox.put(connection.recv_bytes())
        except (EOFError, OSError):
            inbox.put(None)

    threading.Thread(target=receive, daemon=True).start()
    while (payload := inbox.get()) is not None:
        work: list[tuple[int, bytes, dict[str | None, str | None] | None]] = pickle.loads(payload)
        results = [_validate(line, raw, row, registry, defaults) for line, raw, row in work]
        try:
            connection.send_bytes(pickle.dumps(results, pickle.HIGHEST_PROTOCOL))
        except OSError:  # the parent is gone
            return
