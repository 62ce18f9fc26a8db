"""Replaying scenario time against the wall clock (``--speedup``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from producers.simulator.engine import SimRecord


class ScenarioClock:
    """Releases each record when its arrival time is due, ``speedup`` times faster than real.

    The first record sets the origin; a slow consumer never makes the clock skip records, it
    only falls behind (and catches up without sleeping).
    """

    def __init__(
        self,
        speedup: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self.speedup = speedup
        self._clock = clock
        self._sleep = sleep

    def paced(self, records: Iterable[SimRecord]) -> Iterator[SimRecord]:
        origin: tuple[float, float] | None = None  # (scenario seconds, wall seconds)
        for record in records:
            scenario_seconds = record.arrives_at.timestamp()
            if origin is None:
                origin = (scenario_seconds, self._clock())
            due = origin[1] + (scenario_seconds - origin[0]) / self.speedup
            wait = due - self._clock()
            if wait > 0:
                self._sleep(wait)
            yield record
