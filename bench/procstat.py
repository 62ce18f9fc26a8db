"""CPU and memory of running processes, read from /proc (Linux), sampled while a benchmark runs.

CPU is the share of one core used between two samples (2.0 = two full cores), RSS the resident
memory in MiB; both are per process id, so Kafka's and Elasticsearch's JVMs are measured the
same way as the pipeline's Python processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Reading:
    at: float  # time.monotonic()
    cpu_s: float  # user + system seconds since the process started
    rss_mib: float


def read(pid: int) -> Reading | None:
    """One reading of ``pid``, or None when it no longer exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    fields = stat.rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / _TICKS_PER_S
    rss_mib = int(statm.split()[1]) * _PAGE_BYTES / 2**20
    return Reading(time.monotonic(), cpu_s, rss_mib)


@dataclass
class ProcessTrace:
    """Every reading of one named process (a restarted process gets a new trace)."""

    name: str
    pid: int
    readings: list[Reading] = field(default_factory=list)

    def cpu_cores(self, since: float | None = None, until: float | None = None) -> float | None:
        """Average cores used between the first reading at/after ``since`` and the last
        reading at/before ``until``."""
        chosen = [
            r
            for r in self.readings
            if (since is None or r.at >= since) and (until is None or r.at <= until)
        ]
        if len(chosen) < 2 or chosen[-1].at <= chosen[0].at:
            return None
        return (chosen[-1].cpu_s - chosen[0].cpu_s) / (chosen[-1].at - chosen[0].at)

    def rss_at(self, moment: float) -> float | None:
        """RSS of the last reading at or before ``moment``."""
        before = [r.rss_mib for r in self.readings if r.at <= moment]
        return before[-1] if before else None

    def rss_max(self) -> float | None:
        return max((r.rss_mib for r in self.readings), default=None)


@dataclass
class Sampler:
    """Readings of a changing set of named processes (``pids`` is asked on every sample)."""

    traces: dict[tuple[str, int], ProcessTrace] = field(default_factory=dict)

    def sample(self, pids: Mapping[str, int]) -> None:
        for name, pid in pids.items():
            reading = read(pid)
            if reading is None:
                continue
            trace = self.traces.setdefault((name, pid), ProcessTrace(name, pid))
            trace.readings.append(reading)

    def by_name(self) -> dict[str, list[ProcessTrace]]:
        result: dict[str, list[ProcessTrace]] = {}
        for trace in self.traces.values():
            result.setdefault(trace.name, []).append(trace)
        return result
