"""The pump when its input breaks off: what was handed over is still delivered and counted,
and the run is reported as incomplete instead of as a clean end of file."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from producers.commands import EXIT_NOT_ACKNOWLEDGED, _exit_status
from producers.delivery import DeliveryTracker
from producers.files import ParsedInput, ValidationWorkerDied
from producers.pump import pump
from producers.records import Outbound
from schemas.deadletter import Stage


class _Acknowledged:
    """A send future Kafka has already acknowledged."""

    is_done = True
    value = SimpleNamespace(partition=0, offset=0)

    def succeeded(self) -> bool:
        return True

    def get(self, timeout: float | None = None) -> Any:
        return self.value


class _Writer:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.flushed = False

    def send(self, report: Outbound) -> _Acknowledged:
        self.sent.append(report.report_id)
        return _Acknowledged()

    def flush(self, timeout_s: float | None = None) -> None:
        self.flushed = True


def _breaks_off_after_two() -> Iterator[ParsedInput]:
    for line in (1, 2):
        yield ParsedInput(line, b"{}", Outbound(f"r-{line}", "64.72", b"{}"))
    raise ValidationWorkerDied("validation process 42 ended (exit code -9) before lines 3-502")


def test_a_dead_validator_stops_the_run_as_incomplete_after_delivering_what_was_read() -> None:
    writer = _Writer()
    summary = pump(
        _breaks_off_after_two(),
        writer,  # type: ignore[arg-type]
        DeliveryTracker(),
        stage=Stage.PRODUCE,
        source="file:test",
    )
    assert writer.sent == ["r-1", "r-2"] and writer.flushed
    assert (summary.read, summary.accepted) == (2, 2)
    assert summary.stopped_by is not None and "exit code -9" in summary.stopped_by
    assert not summary.complete
    assert _exit_status(summary, allow_rejects=True) == EXIT_NOT_ACKNOWLEDGED
