"""The fault-injection suite: every scenario of `sitrep chaos` against the real local stack.

One fault-free run first (its final statuses, alerts, notifications and later dead letters
are what every scenario must end with), then each fault mid-stream. The per-scenario table
(recovery time, reports delayed, invariants) is written to
.sitrep/test-artifacts/chaos.{json,txt}. The long outages (Kafka 30 s, Elasticsearch 120 s)
are marked ``long``: `make test-reliability` runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.registry import default_registry
from sitrep import stack
from sitrep.chaos import report
from sitrep.chaos.feed import Submission, build_input, utc_now
from sitrep.chaos.run import Expected, ScenarioResult, run_scenario
from sitrep.chaos.scenarios import BASELINE, SCENARIOS, Scenario
from sitrep.settings import Settings

pytestmark = pytest.mark.integration

ARTIFACTS = Path(".sitrep/test-artifacts")
RATE = 100.0  # submissions per second: the input takes about 15 s, faults land mid-stream


class Suite:
    def __init__(self, settings: Settings, work: Path) -> None:
        self.settings = settings
        self.work = work
        self.submissions: list[Submission] = build_input(default_registry(), now=utc_now())
        self.results: list[ScenarioResult] = []
        self.expected: Expected | None = None

    def run(self, scenario: Scenario) -> ScenarioResult:
        services: dict[str, Any] = {s.name: s for s in stack.services(self.settings)}
        result = run_scenario(
            self.settings,
            scenario,
            self.submissions,
            services=services,
            work=self.work,
            expected=self.expected,
            rate=RATE,
            timeout_s=400,  # a lost state store is rebuilt from the changelog: minutes
        )
        self.results.append(result)
        return result


@pytest.fixture(scope="module")
def suite(local_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    chaos = Suite(local_stack, tmp_path_factory.mktemp("chaos"))
    baseline = chaos.run(BASELINE)
    assert baseline.held, report.table([baseline])
    chaos.expected = baseline.expected
    yield chaos
    stack.up(local_stack)  # whatever a scenario stopped runs again for later tests
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report.write(ARTIFACTS / "chaos.json", chaos.results, {"rate_per_s": RATE})
    (ARTIFACTS / "chaos.txt").write_text(report.table(chaos.results) + "\n", encoding="utf-8")


def _param(scenario: Scenario) -> Any:
    marks = [pytest.mark.long] if scenario.long else []
    return pytest.param(scenario, id=scenario.name, marks=marks)


@pytest.mark.parametrize("scenario", [_param(s) for s in SCENARIOS])
def test_invariants_hold_through(suite: Suite, scenario: Scenario) -> None:
    result = suite.run(scenario)
    assert result.held, f"{report.table([result])}\n{report.log_tails(result)}"
