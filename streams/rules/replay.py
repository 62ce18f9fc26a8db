"""Replaying reports through the rule engine on a virtual clock (``sitrep rules test``, tests).

Stream time follows the largest ``occurred_at`` seen (as in the worker); before a report moves
it into a new minute, the engine ticks once per virtual minute in between. After the last
report the clock keeps ticking for ``drain_minutes`` so conditions can clear and resolve.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from schemas.alert import Alert, AlertChange
from schemas.registry import AreaRegistry
from schemas.report import FieldReport, parse_report
from streams.rules.engine import MemoryRuleStore, RuleEngine
from streams.timebase import at_minute, minute_of

__all__ = ["Replay", "ReplayedAlert", "parse_jsonl", "replay_reports"]


@dataclass(frozen=True)
class ReplayedAlert:
    alert: Alert
    realert: bool  # fired again for a group that had an earlier, resolved episode


@dataclass
class Replay:
    alerts: list[ReplayedAlert] = field(default_factory=list)
    reports: int = 0
    ticks: int = 0


def parse_jsonl(
    lines: Iterable[bytes], registry: AreaRegistry
) -> Iterator[tuple[int, FieldReport]]:
    """(line number, report) for every valid, first-seen report; others are skipped."""
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            report = parse_report(line, registry)
        except (ValidationError, ValueError):
            continue
        if report.report_id in seen:
            continue
        seen.add(report.report_id)
        yield number, report


def replay_reports(
    engine: RuleEngine,
    reports: Iterable[tuple[int, FieldReport]],
    expected_areas: Sequence[str],
    drain_minutes: int = 0,
    until: datetime | None = None,
) -> Replay:
    """Feed reports (offset, report) in arrival order; returns every alert record produced."""
    store = MemoryRuleStore()
    result = Replay()
    fired_groups: set[tuple[str, str]] = set()
    clock: int | None = None  # stream minute
    last_tick: int | None = None
    latest: datetime | None = None  # stream time: the largest occurred_at so far

    def collect(alerts: list[Alert]) -> None:
        for alert in alerts:
            group = (alert.rule_id, alert.group_key)
            realert = alert.change is AlertChange.FIRED and group in fired_groups
            if alert.change is AlertChange.FIRED:
                fired_groups.add(group)
            result.alerts.append(ReplayedAlert(alert, realert))

    def tick_until(minute: int) -> None:
        nonlocal last_tick
        start = minute if last_tick is None else last_tick + 1
        for tick in range(start, minute + 1):
            collect(engine.on_tick(store, at_minute(tick), expected_areas))
            result.ticks += 1
        last_tick = minute

    for offset, report in reports:
        if until is not None and report.occurred_at >= until:
            continue
        minute = minute_of(report.occurred_at)
        if clock is None or minute > clock:
            tick_until(minute)
            clock = minute
        latest = report.occurred_at if latest is None else max(latest, report.occurred_at)
        collect(engine.on_reports([(offset, report)], store, latest))
        result.reports += 1
    if clock is not None:
        end = clock + drain_minutes
        if until is not None:
            end = min(end, minute_of(until))
        tick_until(max(end, clock))
    return result
