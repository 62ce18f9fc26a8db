"""The CPU-bound part of an intake request, as a pure function: body bytes in, verdicts out.

``check_batch`` decodes the body, stamps every report with the server's clock and the token's
unit, validates it, and for each valid report computes its wire bytes and content fingerprint.
It needs nothing but the registry, so it can run in a worker process (``CheckerPool``) while the
event loop keeps serving HTTP and feeding Kafka.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

from producers.records import Rejection, content_fingerprint, decode_json, problem, validate
from schemas.deadletter import Reason
from schemas.registry import AreaRegistry, default_registry
from schemas.report import REPORT_SCHEMA_VERSION, FieldReport, ReportSource, report_to_json_bytes


class Stamp(NamedTuple):
    """What the server writes into every report: its clock and the token's unit and role."""

    received_at: datetime
    unit: str
    role: str


class Checked(NamedTuple):
    """A valid report of the batch, ready for the duplicate check and Kafka."""

    position: int  # in the batch
    report_id: str
    district: str
    fingerprint: str
    value: bytes


@dataclass(frozen=True)
class BatchCheck:
    """The verdict on a request body.

    ``problem`` is a whole-request failure (``invalid_json``, ``too_large``, ``empty_batch``),
    with ``rejection`` to dead-letter for invalid JSON. Otherwise ``items`` holds, in order, a
    ``Checked`` or an ``(index, Rejection)`` per report.
    """

    problem: str | None = None
    rejection: Rejection | None = None
    size: int = 0
    items: tuple[Checked | tuple[int, Rejection], ...] = ()

    @property
    def rejections(self) -> list[tuple[int, Rejection]]:
        return [item for item in self.items if not isinstance(item, Checked)]

    @property
    def valid(self) -> list[Checked]:
        return [item for item in self.items if isinstance(item, Checked)]


def check_batch(body: bytes, stamp: Stamp, registry: AreaRegistry, max_batch: int) -> BatchCheck:
    document = decode_json_body(body)
    if isinstance(document, Rejection):
        return BatchCheck(problem="invalid_json", rejection=document)
    single = isinstance(document, dict)
    entries: list[Any] = [document] if isinstance(document, dict) else document
    if len(entries) > max_batch:
        return BatchCheck(problem="too_large", size=len(entries))
    if not entries:
        return BatchCheck(problem="empty_batch")
    items: list[Checked | tuple[int, Rejection]] = []
    for index, entry in enumerate(entries):
        result = _check_entry(entry, stamp, registry)
        if isinstance(result, FieldReport):
            fingerprint = content_fingerprint(result)
            value = report_to_json_bytes(result)
            items.append(Checked(index, result.report_id, result.district, fingerprint, value))
        else:
            # The raw bytes are only worth building for what is dead-lettered.
            raw = body if single else entry_bytes(entry)
            items.append((index, replace(result, raw=raw)))
    return BatchCheck(size=len(entries), items=tuple(items))


def _check_entry(entry: Any, stamp: Stamp, registry: AreaRegistry) -> FieldReport | Rejection:
    if not isinstance(entry, dict):
        message = f"expected a JSON object (one report), got {type(entry).__name__}"
        return Rejection(Reason.VALIDATION_FAILED, (problem("", message, "model_type"),), b"")
    return validate(server_stamped(entry, stamp), b"", registry)


def decode_json_body(body: bytes) -> dict[str, Any] | list[Any] | Rejection:
    """A report object or a list of them; anything else is a rejection."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        result = decode_json(body)  # the same rejection, with the parser's message
        if isinstance(result, Rejection):
            return result
        document = result
    if isinstance(document, dict | list):
        return document
    message = f"expected a report object or an array of reports, got {type(document).__name__}"
    return Rejection(Reason.INVALID_JSON, (problem("", message, "invalid_json"),), body)


def server_stamped(entry: dict[str, Any], stamp: Stamp) -> dict[str, Any]:
    """The report as the server records it: its clock and the token's unit, never the body's."""
    return {
        "source": ReportSource.APP.value,
        "schema_version": REPORT_SCHEMA_VERSION,
        **entry,
        "received_at": stamp.received_at,
        "reporter": {"unit": stamp.unit, "role": stamp.role},
    }


def entry_bytes(entry: Any) -> bytes:
    try:
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800"): keep it escaped, as it came
        return json.dumps(entry, separators=(",", ":")).encode("utf-8")


def entry_of(body: bytes, index: int) -> bytes:
    """One report of a request body as bytes (for dead-lettering a valid but refused report)."""
    document = json.loads(body)
    return body if isinstance(document, dict) else entry_bytes(document[index])


class CheckerPool:
    """``check_batch`` in worker processes (spawned: safe beside the Kafka client's threads).

    Each worker loads the area registry once, when it starts.
    """

    def __init__(self, workers: int) -> None:
        self.executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_registry,
        )

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


PARENT_CHECK_S = 1.0


def exit_with_parent(parent: int, interval_s: float = PARENT_CHECK_S) -> None:
    """Exit once ``parent`` is gone. A server killed outright (kill -9, the OOM killer) cannot
    shut its pool down, and its checkers would otherwise wait for work forever."""
    while True:
        time.sleep(interval_s)
        if os.getppid() != parent:
            os._exit(0)


def _load_registry() -> None:
    # Ctrl-C is for the server process, which shuts the pool down in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True
    ).start()
    # Loading villages up front makes the first request as fast as the rest.
    registry = default_registry()
    first = registry.provinces()[0]
    registry.villages(registry.districts(registry.regencies(first.code)[0].code)[0].code)


def check_in_worker(body: bytes, stamp: Stamp, max_batch: int) -> BatchCheck:
    """Entry point in a worker process: the registry is the worker's default registry."""
    return check_batch(body, stamp, default_registry(), max_batch)
