"""One scenario end to end: start the pipeline, feed the input, inject the fault, wait until
the pipeline has caught up, check the invariants, clean up."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import structlog

from . import invariants
from .feed import Feeder, Submission
from .invariants import Check
from .pipeline import Pipeline, RunNames
from .receiver import Receiver
from .scenarios import FaultContext, Scenario

log = structlog.get_logger("sitrep.chaos")

POLL_S: Final = 1.0
# The fault-free run is complete once nothing has changed for this long after catching up.
BASELINE_QUIET_S: Final = 10.0
# After the invariants first hold: anything delivered or indexed twice would show up by now.
AFTERGLOW_S: Final = 3.0
DELAYED_AFTER_S: Final = 5.0  # a report indexed later than this after it was received


@dataclass(frozen=True)
class Expected:
    """What the fault-free run ended with: every other run must end the same."""

    statuses: Mapping[str, Mapping[str, Any]]
    alert_changes: frozenset[str]  # of the rules on reports (see alert_change_keys)
    later_dead_letters: frozenset[str]


@dataclass
class ScenarioResult:
    name: str
    description: str
    checks: list[Check] = field(default_factory=list)
    accepted: int = 0
    invalid: int = 0
    fault_s: float = 0.0
    recovered_s: float | None = None  # from the end of the fault (or input) to all held
    delayed: int = 0
    retries: int = 0
    crashes: dict[str, int] = field(default_factory=dict)
    expected: Expected | None = None
    logs: Path | None = None
    # Compared and reported, but not an invariant (see ``run_scenario``).
    observations: list[Check] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return bool(self.checks) and all(check.held for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "description": self.description,
            "held": self.held,
            "accepted": self.accepted,
            "invalid": self.invalid,
            "fault_s": round(self.fault_s, 1),
            "recovered_s": None if self.recovered_s is None else round(self.recovered_s, 1),
            "reports_delayed": self.delayed,
            "client_retries": self.retries,
            "crashes": self.crashes,
            "checks": [{"name": c.name, "held": c.held, "detail": c.detail} for c in self.checks],
            "observations": [
                {"name": c.name, "held": c.held, "detail": c.detail} for c in self.observations
            ],
            "logs": str(self.logs) if self.logs else None,
        }


def alert_change_keys(records: Sequence[tuple[Mapping[str, Any], int]]) -> frozenset[str]:
    """(alert, state, tier) of the rules on reports and time. Level rules are left out: they
    judge the status records as the worker sends them, and in a replay at a hundred reports a
    second which intermediate levels get sent (debounced) depends on timing, not on input."""
    return frozenset(
        f"{a['alert_id']}/{a['state']}/{a['tier']}"
        for a, _ in records
        if a.get("rule_type") != "level"
    )


def notifications_due(
    alerts: Sequence[tuple[Mapping[str, Any], int]], deliveries: Sequence[Mapping[str, Any]]
) -> frozenset[str]:
    """What the channels must hear of this run's own alerts: each change but ``update`` on each
    route, except what the notifier recorded as held back (silenced, suppressed by a
    provincial alert)."""
    held_back = {
        d["notification_key"] for d in deliveries if d.get("status") in ("silenced", "suppressed")
    }
    return (
        frozenset(
            f"{a['alert_id']}/{a['state']}/{a['tier']}/{route['channel']}"
            for a, _ in alerts
            if a.get("change") != "update"
            for route in a.get("routes", [])
        )
        - held_back
    )


def delayed_reports(indexed: Sequence[tuple[str, str | None, str | None]]) -> int:
    """Reports whose own timestamps say they were searchable more than DELAYED_AFTER_S after
    the intake received them."""
    count = 0
    for _, received, indexed_at in indexed:
        if received and indexed_at:
            lag = datetime.fromisoformat(indexed_at) - datetime.fromisoformat(received)
            count += lag.total_seconds() > DELAYED_AFTER_S
    return count


@dataclass
class Snapshot:
    indexed: list[tuple[str, str | None, str | None]]
    statuses: dict[str, dict[str, Any]]
    alerts: list[tuple[dict[str, Any], int]]
    deliveries: list[str]
    dead_letters: list[dict[str, Any]]
    delivery_records: list[dict[str, Any]]
    lag: int

    def due(self) -> frozenset[str]:
        return notifications_due(self.alerts, self.delivery_records)

    def intake_dead_letter_ids(self) -> list[str]:
        return [d["dead_letter_id"] for d in self.dead_letters if d.get("stage") == "intake"]

    def later_dead_letters(self) -> frozenset[str]:
        """(stage/reason/report id) of what was set aside after the intake."""
        return frozenset(
            f"{d.get('stage')}/{d.get('reason')}/{d.get('report_id')}"
            for d in self.dead_letters
            if d.get("stage") != "intake"
        )

    def signature(self) -> tuple[Any, ...]:
        return (
            len(self.indexed),
            sorted((code, repr(invariants.situation(s))) for code, s in self.statuses.items()),
            alert_change_keys(self.alerts),
            len(self.deliveries),
        )


def _snapshot(pipeline: Pipeline, receiver: Receiver) -> Snapshot:
    return Snapshot(
        pipeline.indexed_reports(),
        pipeline.statuses(),
        pipeline.alert_records(),
        receiver.keys(),
        pipeline.dead_letters(),
        pipeline.delivery_records(),
        pipeline.worker_lag(),
    )


def still_open(snap: Snapshot, accepted: set[str], expected: Expected | None) -> list[str]:
    """What keeps the pipeline from having caught up (empty once it has): named, so a run
    that never catches up says why."""
    waiting: list[str] = []
    if snap.lag:
        waiting.append(f"worker lag {snap.lag}")
    unindexed = accepted - {report_id for report_id, _, _ in snap.indexed}
    if unindexed:
        waiting.append(f"{len(unindexed)} accepted reports not indexed (e.g. {min(unindexed)})")
    undelivered = snap.due() - set(snap.deliveries)
    if undelivered:
        waiting.append(
            f"{len(undelivered)} due notifications not delivered (e.g. {min(undelivered)})"
        )
    if expected is not None:
        statuses = invariants.statuses_match(expected.statuses, snap.statuses)
        if not statuses.held:
            waiting.append(f"statuses differ: {statuses.detail[:300]}")
    return waiting


def run_scenario(
    settings: Any,
    scenario: Scenario,
    submissions: Sequence[Submission],
    *,
    services: Mapping[str, Any],
    work: Path,
    expected: Expected | None,
    rate: float,
    timeout_s: float = 600.0,
    keep: bool = False,
    on_progress: Callable[[str], None] | None = None,
) -> ScenarioResult:
    """Run one scenario; ``expected`` is None for the fault-free run that makes it."""
    say = on_progress or (lambda _: None)
    names = RunNames(f"chaos-{uuid.uuid4().hex[:8]}")
    result = ScenarioResult(scenario.name, scenario.description, logs=work / names.run_id)
    receiver = Receiver(hang_s=5.0)
    receiver.start()
    pipeline = Pipeline(settings, names, work / names.run_id, receiver, scenario.workers)
    try:
        pipeline.prepare()
        say(f"{scenario.name}: starting the pipeline ({names.run_id})")
        try:
            pipeline.start()
        except RuntimeError as exc:
            result.checks.append(Check("pipeline started", False, str(exc)[:2000]))
            return result
        feeder = Feeder(
            f"http://127.0.0.1:{pipeline.intake_port}", pipeline.token, submissions, rate=rate
        )
        feeder.start()
        fault_end = _inject(scenario, feeder, pipeline, services, receiver, result, say)
        while not feeder.join(POLL_S):
            pipeline.supervise()
        input_done = time.monotonic()
        progress = feeder.progress
        result.accepted, result.invalid = len(progress.accepted), len(progress.invalid)
        result.retries = progress.retries
        say(f"{scenario.name}: input sent ({result.accepted} accepted), waiting to catch up")
        snap, recovered_at = _wait_caught_up(
            pipeline, receiver, progress.accepted, expected, timeout_s
        )
        if recovered_at is not None:
            result.recovered_s = recovered_at - max(input_done, fault_end or input_done)
            time.sleep(AFTERGLOW_S)
            snap = _snapshot(pipeline, receiver)
        result.checks = _checks(snap, feeder, expected)
        if recovered_at is None:
            waiting = "; ".join(still_open(snap, progress.accepted, expected))
            result.checks.insert(
                0,
                Check(
                    "caught up",
                    False,
                    f"not within {timeout_s:.0f} s after the input; still open: {waiting}",
                ),
            )
        if expected is not None:
            # The alert changes along the way are not an invariant: which ones a replayed
            # day passes through can depend on timing even without a fault (docs/reliability.md).
            result.observations.append(
                invariants.alerts_match(expected.alert_changes, alert_change_keys(snap.alerts))
            )
        result.delayed = delayed_reports(snap.indexed)
        result.crashes = {n: r.crashes for n, r in pipeline.roles.items() if r.crashes}
        if result.crashes:
            result.checks.append(
                Check("no process crashed", False, f"exited by themselves: {result.crashes}")
            )
        if expected is None and result.held:
            result.expected = Expected(
                snap.statuses, alert_change_keys(snap.alerts), snap.later_dead_letters()
            )
        return result
    finally:
        pipeline.stop()
        receiver.stop()
        if not keep and result.held:
            pipeline.cleanup()


def _inject(
    scenario: Scenario,
    feeder: Feeder,
    pipeline: Pipeline,
    services: Mapping[str, Any],
    receiver: Receiver,
    result: ScenarioResult,
    say: Callable[[str], None],
) -> float | None:
    """Wait for the moment, run the fault in a thread while supervising; when it ended."""
    if scenario.fault is None:
        return None
    while feeder.fraction_sent < scenario.at and feeder.progress.finished_at is None:
        time.sleep(0.1)
    say(f"{scenario.name}: injecting the fault ({scenario.description})")
    context = FaultContext(pipeline, services, receiver)
    errors: list[BaseException] = []

    def run_fault() -> None:
        try:
            assert scenario.fault is not None
            scenario.fault(context)
        except BaseException as exc:
            errors.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run_fault, name="chaos-fault", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(POLL_S)
        if not thread.is_alive():
            break
        pipeline.supervise()  # what the fault did not take down on purpose
    if errors:
        raise RuntimeError(f"the fault itself failed: {errors[0]!r}") from errors[0]
    result.fault_s = time.monotonic() - started
    return time.monotonic()


def _wait_caught_up(
    pipeline: Pipeline,
    receiver: Receiver,
    accepted: set[str],
    expected: Expected | None,
    timeout_s: float,
) -> tuple[Snapshot, float | None]:
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    signature: tuple[Any, ...] | None = None
    caught_at: float | None = None
    while True:
        pipeline.supervise()
        snap = _snapshot(pipeline, receiver)
        now = time.monotonic()
        if not still_open(snap, accepted, expected):
            caught_at = caught_at or now
            if expected is not None:
                return snap, caught_at
            # The fault-free run: done once nothing changed for a while.
            if snap.signature() != signature:
                signature, quiet_since = snap.signature(), now
            elif quiet_since is not None and now - quiet_since >= BASELINE_QUIET_S:
                return snap, caught_at
        else:
            caught_at, signature = None, None
        if now > deadline:
            return snap, None
        time.sleep(POLL_S)


def _checks(snap: Snapshot, feeder: Feeder, expected: Expected | None) -> list[Check]:
    progress = feeder.progress
    sent_all = progress.error is None and not progress.refused
    checks = [
        Check(
            "input sent and answered",
            sent_all,
            progress.error
            or (f"unexpected answers: {progress.refused}" if progress.refused else "")
            or f"{progress.sent} submissions, {progress.retries} retries",
        ),
        invariants.reports_indexed_once(progress.accepted, [i for i, _, _ in snap.indexed]),
        invariants.dead_letters_match(len(progress.invalid), snap.intake_dead_letter_ids()),
        invariants.delivered_once(snap.due(), snap.deliveries),
    ]
    if expected is not None:
        checks += [
            invariants.statuses_match(expected.statuses, snap.statuses),
            invariants.later_dead_letters_match(
                expected.later_dead_letters, snap.later_dead_letters()
            ),
        ]
    return checks
