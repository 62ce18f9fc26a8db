"""Incident lifecycle: the latest report decides, whatever the arrival order."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from schemas.report import parse_report
from streams.incidents import HISTORY, IncidentRecord, IncidentView
from streams.scoring import ScoringConfig

Report = Callable[..., dict[str, Any]]


def view(data: dict[str, Any]) -> IncidentView:
    import json

    return IncidentView.of(parse_report(json.dumps(data)))


def test_latest_report_wins_in_any_arrival_order(report: Report) -> None:
    reports = [
        report(0, report_id="a", severity=3, state="open"),
        report(30, report_id="b", incident_id="a", severity=5, state="handling"),
        report(60, report_id="c", incident_id="a", severity=2, state="resolved"),
    ]
    results = set()
    for order in itertools.permutations(reports):
        record = IncidentRecord.empty("64.71", 0)
        for offset, data in enumerate(order):
            record = record.with_update(offset, view(data))
        assert record.latest is not None
        results.add((record.latest.report_id, record.latest.state, record.latest.severity))
    assert results == {("c", "resolved", 2)}


def test_resolved_incident_contributes_nothing(report: Report, config: ScoringConfig) -> None:
    opened = view(report(0, report_id="a", category="riot", severity=5))
    contribution = opened.contribution(config)
    assert contribution is not None and contribution.weight == 48.0
    handling = view(report(10, report_id="b", incident_id="a", category="riot", state="handling"))
    assert handling.contribution(config) is not None
    resolved = view(report(20, report_id="c", incident_id="a", state="resolved"))
    assert resolved.contribution(config) is None


def test_kecamatan_falls_back_to_the_first_known(report: Report) -> None:
    first = view(report(0, report_id="a", subdistrict="64.71.02"))
    follow_up = view(report(10, report_id="b", incident_id="a", subdistrict=None))
    moved = view(report(20, report_id="c", incident_id="a", subdistrict="64.71.03"))
    assert first.combine(follow_up).subdistrict == "64.71.02"
    assert first.combine(follow_up).combine(moved).subdistrict == "64.71.03"
    assert follow_up.combine(moved).combine(first).subdistrict == "64.71.03"


def test_history_answers_for_replayed_offsets(report: Report) -> None:
    record = IncidentRecord.empty("64.71", 0)
    views = [view(report(m, report_id=f"r{m}", incident_id="r0")) for m in range(5)]
    for offset, item in enumerate(views, start=100):
        record = record.with_update(offset, item)
    assert record.state_before(100) is None
    before, after = record.state_before(102), record.state_at(102)
    assert before is not None and before.report_id == "r1"
    assert after is not None and after.report_id == "r2"
    assert record.remembers(100)


def test_history_is_bounded_and_folds_into_the_base(report: Report) -> None:
    record = IncidentRecord.empty("64.71", 0)
    for offset in range(HISTORY + 10):
        record = record.with_update(offset, view(report(offset, report_id=f"r{offset}")))
    assert len(record.recent) == HISTORY
    assert record.base is not None
    assert record.latest is not None and record.latest.report_id == f"r{HISTORY + 9}"
    assert not record.remembers(3)  # folded away
    assert record.remembers(HISTORY + 5)
    again = IncidentRecord.decode(record.encode())
    assert again == record
    assert IncidentRecord.expiry_of(record.encode())[0] == 0
