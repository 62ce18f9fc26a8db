"""Which areas the emit timer renders on a tick, and why: a pure function of the bookkeeping.

Changed areas go out as soon as their debounce allows. The time-driven work (the re-render of
every area when the minute moves on, the heartbeat) is capped per tick: with the nationwide
registry (7,837 areas) doing it all in one tick stalled the worker for seconds (one tick took
6.4 s at 400 reports/s), and every report waiting behind it got that much later. Heartbeats are
due per area, ``heartbeat_s`` after that area's last record, so once the cap has spread them
out they stay spread.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["ChangedQueue", "Due", "EmitPlan", "Why", "plan_emit"]


class Why(Enum):
    CHANGED = "changed"  # the state changed: always sent
    HEARTBEAT = "heartbeat"  # nothing may have changed, sent anyway
    TIME = "time"  # the minute moved on: sent only if what an operator sees changed


@dataclass(frozen=True)
class Due:
    code: str
    why: Why


@dataclass(frozen=True)
class EmitPlan:
    due: tuple[Due, ...]
    budget_left: int | None  # None: no cap


def plan_emit(
    areas: Iterable[str],
    *,
    dirty: Set[str],
    time_pending: Set[str],
    last_sent: Callable[[str], float | None],
    wall: float,
    interval_s: float,
    heartbeat_s: float,
    budget: int | None,
) -> EmitPlan:
    """The areas to render now, in ``areas`` order.

    ``last_sent(code)``: wall time of the area's last record, None if none since the start.
    ``budget``: time-driven renders (heartbeat or time) allowed on this tick, None for no cap;
    areas over the cap stay due for the next tick. A changed area inside its debounce interval
    waits, unless its heartbeat is due.
    """
    due: list[Due] = []
    left = budget
    for code in areas:
        sent = last_sent(code)
        heartbeat = sent is None or wall - sent >= heartbeat_s
        if code in dirty:
            if sent is None or wall - sent >= interval_s:
                due.append(Due(code, Why.CHANGED))
                continue
            if not heartbeat:
                continue  # debounce: the change goes out once the interval has passed
        elif not heartbeat and code not in time_pending:
            continue
        if left is not None:
            if left <= 0:
                continue
            left -= 1
        due.append(Due(code, Why.HEARTBEAT if heartbeat else Why.TIME))
    return EmitPlan(tuple(due), left)


@dataclass
class ChangedQueue:
    """Changed areas in the order their debounce ends: (wall time it ends, code) in a heap.

    An area is queued once however often it changes meanwhile. Its entry may go stale (the
    timer sent the area first, or its partition moved): ``pop_due`` checks it again then.
    """

    _heap: list[tuple[float, str]] = field(default_factory=list)
    _queued: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, code: str, last_sent: float | None, interval_s: float) -> None:
        """Queue a changed area; ``last_sent``: wall time of its last record (None: never)."""
        if code in self._queued:
            return
        self._queued.add(code)
        ends = -math.inf if last_sent is None else last_sent + interval_s
        heapq.heappush(self._heap, (ends, code))

    def next_due(self) -> float | None:
        """When the earliest queued debounce ends (-inf: now), None when nothing waits."""
        return self._heap[0][0] if self._heap else None

    def pop_due(
        self,
        wall: float,
        *,
        dirty: Set[str],
        last_sent: Callable[[str], float | None],
        interval_s: float,
    ) -> list[str]:
        """The queued areas to send at ``wall``, earliest first.

        One no longer in ``dirty`` (sent or forgotten since) is dropped; one sent since it was
        queued waits for the end of its new debounce.
        """
        due: list[str] = []
        while self._heap and self._heap[0][0] <= wall:
            _, code = heapq.heappop(self._heap)
            self._queued.discard(code)
            if code not in dirty:
                continue
            sent = last_sent(code)
            # The same sum as the heap key, so an area due by the key is due here too.
            if sent is not None and sent + interval_s > wall:
                self.add(code, sent, interval_s)
                continue
            due.append(code)
        return due

    def clear(self) -> None:
        self._heap.clear()
        self._queued.clear()
