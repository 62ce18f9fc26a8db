"""Golden tests: each rule type over a small input pins the exact alert sequence.

Inputs: ``data/<type>.jsonl`` (reports in arrival order; ``level.jsonl``: statuses). Expected:
``data/<type>.golden.jsonl``, one compact JSON line per alert record: [change, alert_id, tier,
group, late]. Regenerate after an intended change with ``SITREP_UPDATE_GOLDEN=1`` and review the
diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from schemas.alert import Alert
from schemas.registry import AreaRegistry
from schemas.status import AreaStatus
from streams.rules.engine import MemoryRuleStore, RuleEngine
from streams.rules.model import RuleSet, load_rules
from streams.rules.replay import parse_jsonl, replay_reports
from tests.streams.rules.conftest import EXPECTED, SITES, WITA

DATA = Path(__file__).parent / "data"
UPDATE = os.environ.get("SITREP_UPDATE_GOLDEN") == "1"


def _engine(rule_type: str, registry: AreaRegistry) -> RuleEngine:
    folder = DATA
    rules = load_rules(folder, registry)
    rule = rules.get(f"g-{rule_type}")
    assert rule is not None
    return RuleEngine(RuleSet((rule,)), registry, SITES, WITA)


def _lines(alerts: list[Alert]) -> list[str]:
    return [
        json.dumps([a.change.value, a.alert_id, a.tier.value, a.group_key, a.late]) for a in alerts
    ]


def _compare(rule_type: str, lines: list[str]) -> None:
    golden = DATA / f"{rule_type}.golden.jsonl"
    if UPDATE:
        golden.write_text("".join(f"{line}\n" for line in lines))
    assert lines == golden.read_text().splitlines()


@pytest.mark.parametrize("rule_type", ["frequency", "keyword", "proximity", "flatline", "spike"])
def test_golden_report_rules(rule_type: str, registry: AreaRegistry) -> None:
    raw = (DATA / f"{rule_type}.jsonl").read_bytes().splitlines()
    runs = []
    for _ in range(2):  # a second run from scratch gives the very same records
        engine = _engine(rule_type, registry)
        result = replay_reports(engine, parse_jsonl(raw, registry), EXPECTED, drain_minutes=90)
        runs.append([r.alert for r in result.alerts])
    assert [a.model_dump() for a in runs[0]] == [a.model_dump() for a in runs[1]]
    _compare(rule_type, _lines(runs[0]))


def test_golden_level(registry: AreaRegistry) -> None:
    engine = _engine("level", registry)
    store = MemoryRuleStore()
    alerts: list[Alert] = []
    lines = (DATA / "level.jsonl").read_text().splitlines()
    for offset, line in enumerate(lines):
        alerts += engine.on_status(offset, AreaStatus.model_validate_json(line), store)
    for offset, line in enumerate(lines):  # redelivered after a crash: nothing new
        assert engine.on_status(offset, AreaStatus.model_validate_json(line), store) == []
    _compare("level", _lines(alerts))
