"""Which areas the emit timer renders on a tick, and why: a pure function of the bookkeeping.

Changed areas go out as soon as their debounce allows. The time-driven work (the re-render of
every area when the minute moves on, the heartbeat) is capped per tick: with the nationwide
registry (7,837 areas) doing it all in one tick stalled the worker for seconds (one tick took
6.4 s at 400 reports/s), and every report waiting behind it got that much later. Heartbeats are
due per area, ``heartbeat_s`` after that area's last record, so once the cap has spread them
out they stay spread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from enum import Enum

__all__ = ["Due", "EmitPlan", "Why", "plan_emit"]


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
