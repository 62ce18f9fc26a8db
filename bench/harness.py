"""What every benchmark shares: timing, percentiles, the result table and the JSON result file.

A benchmark measures a stage and, in the same run, the ceiling for that stage (e.g. raw
kafka-python on the same bytes), so the ratio stays meaningful on a busy or different machine.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from sitrep.settings import Settings


@dataclass(frozen=True)
class Figure:
    """One measured rate, optionally with its ceiling and latency percentiles (milliseconds)."""

    name: str
    count: int
    seconds: float
    ceiling_name: str | None = None
    ceiling_rate: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    notes: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def ratio(self) -> float | None:
        if not self.ceiling_rate:
            return None
        return self.rate / self.ceiling_rate


def percentiles(
    samples: Sequence[float], points: Sequence[float] = (50, 95, 99)
) -> dict[str, float]:
    """Nearest-rank percentiles of ``samples`` as {"p50": ..., ...}; empty input gives {}."""
    if not samples:
        return {}
    ordered = sorted(samples)
    result = {}
    for point in points:
        rank = max(1, math.ceil(point / 100 * len(ordered)))
        result[f"p{point:g}"] = ordered[rank - 1]
    return result


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def validation_seconds(payloads: Sequence[bytes]) -> float:
    """Seconds ``model_validate_json`` (``parse_report``) takes for every payload, on one core:
    the least any entry point that validates pays per report."""
    from schemas.registry import default_registry
    from schemas.report import parse_report

    registry = default_registry()
    started = time.perf_counter()
    for raw in payloads:
        parse_report(raw, registry)
    return time.perf_counter() - started


def format_table(figures: Sequence[Figure]) -> str:
    header = (
        f"{'benchmark':<34} {'count':>9} {'seconds':>8} {'per s':>10} "
        f"{'ceiling/s':>10} {'ratio':>6}  latency ms"
    )
    lines = [header, "-" * len(header)]
    for f in figures:
        ceiling = f"{f.ceiling_rate:>10.0f}" if f.ceiling_rate else f"{'':>10}"
        ratio = f"{f.ratio:>6.2f}" if f.ratio is not None else f"{'':>6}"
        latency = " ".join(f"{k}={v:.0f}" for k, v in f.latency_ms.items())
        lines.append(
            f"{f.name:<34} {f.count:>9} {f.seconds:>8.2f} {f.rate:>10.0f} "
            f"{ceiling} {ratio}  {latency}"
        )
    return "\n".join(lines)


def write_result(
    path: Path, benchmark: str, figures: Sequence[Figure], params: dict[str, object]
) -> Path:
    """One JSON file per run: parameters, machine, and every figure with its ceiling and ratio."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": benchmark,
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": _cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "params": params,
        "figures": [{**asdict(f), "rate": f.rate, "ratio": f.ratio} for f in figures],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0))


@contextmanager
def scratch_run(settings: Settings, run: str, *, keep: bool) -> Iterator[None]:
    """Delete the topics and consumer groups named after ``run`` when the block ends, also when
    the benchmark fails or is interrupted (unless ``keep``)."""
    try:
        yield
    finally:
        if not keep:
            _drop_scratch(settings, run)


def _drop_scratch(settings: Settings, run: str) -> None:
    import click

    from sitrep import clients
    from sitrep.topics import drop_run

    try:
        admin = clients.kafka_admin(settings)
    except Exception as exc:  # the clean-up must not hide the benchmark's own error
        click.echo(f"warning: {run}: topics not deleted, Kafka unreachable ({exc})", err=True)
        return
    try:
        drop_run(admin, run)
    except Exception as exc:
        click.echo(f"warning: {run}: clean-up incomplete ({exc})", err=True)
    finally:
        admin.close()


Command = TypeVar("Command", bound=Callable[..., Any])


def history_options(command: Command) -> Command:
    """``--history-hours`` and ``--history-count``: state built up before the timed phase."""
    command = click.option(
        "--history-count",
        default=20_000,
        show_default=True,
        help="Reports spread over --history-hours.",
    )(command)
    return click.option(
        "--history-hours",
        default=0.0,
        show_default=True,
        help="Build up this many hours of state first, untimed (an operation day: 24). Areas "
        "then hold up to one minute bucket per minute of it, as in a live operation.",
    )(command)


def history_size(hours: float, count: int) -> int:
    """Reports of history to build up (0 without hours); refuses negative values."""
    from sitrep.commands.common import fail

    if hours < 0 or count < 0:
        fail("--history-hours and --history-count must not be negative")
    return count if hours > 0 else 0


def history_times(count: int, hours: float, end: datetime) -> list[datetime]:
    """``count`` times spread evenly over the ``hours`` before ``end``, oldest first."""
    start = end - timedelta(hours=hours)
    step = timedelta(hours=hours) / max(1, count)
    return [start + step * index for index in range(count)]
