"""The scenario simulator: scenario files, determinism, episodes, silences, disorder, texts."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from producers.records import Defaults, Rejection, parse_json_line
from producers.simulator.engine import Simulator, corrupt, scenario_instant
from producers.simulator.pacing import ScenarioClock
from producers.simulator.scenario import (
    INVALID_KINDS,
    load_scenario,
    parse_duration,
    parse_scenario,
    shipped_scenarios,
)
from producers.simulator.texts import expand
from schemas.registry import AreaRegistry
from schemas.report import FieldReport, OperationPhase

KALTIM = "pilkada-kaltim-2024"


@pytest.fixture(scope="module")
def kaltim() -> Any:
    return load_scenario(KALTIM)


def day_of(sim: Simulator, day: str, hours: float = 24) -> list[Any]:
    start = scenario_instant(day, sim.scenario)
    return list(sim.records(start, start + timedelta(hours=hours)))


# --- scenario files ----------------------------------------------------------------------------


def test_shipped_scenarios_load_and_name_real_areas(registry: AreaRegistry) -> None:
    assert set(shipped_scenarios()) >= {KALTIM, "pilkada-serentak-2024-nasional"}
    for name in shipped_scenarios():
        load_scenario(name).check_areas(registry)


def test_kaltim_scenario_is_the_126_day_operation(kaltim: Any, registry: AreaRegistry) -> None:
    assert kaltim.days == 126
    assert kaltim.timezone == "Asia/Makassar"
    voting = kaltim.phase_on(datetime(2024, 11, 27).date())
    assert voting is not None and voting.phase is OperationPhase.VOTING
    phases = [p.phase for p in sorted(kaltim.phases, key=lambda p: p.start)]
    assert phases.index(OperationPhase.CAMPAIGN) < phases.index(OperationPhase.QUIET_PERIOD)
    assert phases.index(OperationPhase.COUNTING) < phases.index(OperationPhase.INAUGURATION)
    simulator = Simulator(kaltim, registry, seed=1)
    assert [r.code for r in simulator.regencies] == [r.code for r in registry.regencies("64")]
    assert len(simulator.regencies) == 10
    assert kaltim.episodes  # scripted escalations for downstream tests


def test_nationwide_scenario_covers_every_regency(registry: AreaRegistry) -> None:
    scenario = load_scenario("pilkada-serentak-2024-nasional")
    simulator = Simulator(scenario, registry, seed=1)
    assert len(simulator.regencies) == 514
    # Local times: Papua is WIT (+09:00), Jakarta WIB (+07:00).
    assert scenario.zone_for("94.02").key == "Asia/Jayapura"
    assert scenario.zone_for("31.71").key == "Asia/Jakarta"


MINIMAL = """
name: mini
title: Mini
id_prefix: mini
province: "64"
regencies: ["64.74"]
timezone: Asia/Makassar
start: 2024-11-27
end: 2024-11-28
phases:
  - {phase: voting, start: 2024-11-27, end: 2024-11-27, incidents_per_regency_day: 5,
     categories: {clash: 1}}
check_ins:
  level: kecamatan
  habits: [{name: once, share: 1, hours: [9]}]
"""


def test_minimal_scenario_parses() -> None:
    scenario = parse_scenario(MINIMAL)
    assert scenario.name == "mini" and scenario.days == 2
    assert scenario.phase_on(datetime(2024, 11, 28).date()) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("categories: {clash: 1}", "categories: {brawl: 1}"),
        ("end: 2024-11-28\n", "end: 2024-11-26\n"),
        ("timezone: Asia/Makassar", "timezone: Mars/Olympus"),
        ("hours: [9]", "hours: []"),
    ],
)
def test_bad_scenarios_are_refused(change: str, message: str) -> None:
    with pytest.raises(ValidationError):
        parse_scenario(MINIMAL.replace(change, message))


def test_unknown_areas_are_refused(registry: AreaRegistry) -> None:
    scenario = parse_scenario(MINIMAL.replace('["64.74"]', '["64.99"]'))
    with pytest.raises(ValueError, match=r"64\.99"):
        scenario.check_areas(registry)


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration(30) == timedelta(seconds=30)
    with pytest.raises(ValueError):
        parse_duration("soon")


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(kaltim: Any, registry: AreaRegistry) -> None:
    first = [r.raw for r in day_of(Simulator(kaltim, registry, seed=7), "2024-11-27T06:00", 6)]
    again = [r.raw for r in day_of(Simulator(kaltim, registry, seed=7), "2024-11-27T06:00", 6)]
    other = [r.raw for r in day_of(Simulator(kaltim, registry, seed=8), "2024-11-27T06:00", 6)]
    assert first == again
    assert len(first) > 100
    assert first != other


def test_starting_later_gives_the_same_records_as_running_through(
    kaltim: Any, registry: AreaRegistry
) -> None:
    start = scenario_instant("2024-11-26", kaltim)
    through = list(Simulator(kaltim, registry, 3).records(start, start + timedelta(days=2)))
    middle = scenario_instant("2024-11-27T12:00", kaltim)
    later = list(Simulator(kaltim, registry, 3).records(middle, start + timedelta(days=2)))
    assert [r.raw for r in later] == [r.raw for r in through if r.arrives_at >= middle]


def test_records_come_in_arrival_order_with_late_ones_out_of_event_order(
    kaltim: Any, registry: AreaRegistry
) -> None:
    records = day_of(Simulator(kaltim, registry, 1), "2024-11-27")
    arrivals = [r.arrives_at for r in records]
    assert arrivals == sorted(arrivals)
    occurred = [
        datetime.fromisoformat(json.loads(r.raw)["occurred_at"])
        for r in records
        if r.kind != "invalid"
    ]
    inversions = sum(1 for a, b in itertools.pairwise(occurred) if b < a)
    assert inversions > 10
    lags = [
        datetime.fromisoformat(d["received_at"]) - datetime.fromisoformat(d["occurred_at"])
        for r in records
        if r.kind != "invalid"
        for d in [json.loads(r.raw)]
    ]
    assert max(lags) > timedelta(minutes=45)  # late reports (radio logs typed up later)


# --- what is in the stream ---------------------------------------------------------------------


def test_voting_day_mix(kaltim: Any, registry: AreaRegistry) -> None:
    records = day_of(Simulator(kaltim, registry, 1), "2024-11-27")
    kinds = Counter(r.kind for r in records)
    assert kinds["check_in"] > 1000  # ~1,000 villages check in
    assert kinds["incident"] > 10
    assert kinds["duplicate"] > 0 and kinds["invalid"] > 0
    duplicates = [r for r in records if r.kind == "duplicate"]
    originals = {r.report_id: r.raw for r in records if r.kind != "duplicate"}
    assert all(originals[d.report_id] == d.raw for d in duplicates)
    for record in records:
        result = parse_json_line(record.raw, registry, Defaults())
        assert isinstance(result, Rejection) == (record.kind == "invalid"), record.raw
        if isinstance(result, FieldReport):
            assert result.phase is OperationPhase.VOTING or result.occurred_at.day != 27
            assert result.district.startswith("64.")


def test_escalation_episode_has_fixed_ids_and_escalates(
    kaltim: Any, registry: AreaRegistry
) -> None:
    records = day_of(Simulator(kaltim, registry, 99), "2024-11-27")
    episode = [r for r in records if r.episode == "samarinda-ulu-bentrok"]
    documents = sorted((json.loads(r.raw) for r in episode), key=lambda d: d["occurred_at"])
    ids = sorted(d["report_id"] for d in documents)
    assert ids[0] == "pk24-ep-samarinda-ulu-bentrok-001"
    assert {d["subdistrict"] for d in documents} == {"64.72.03"}
    severities = [d["severity"] for d in documents if d.get("incident_state", "open") == "open"]
    assert severities[0] == 2 and max(severities) == 5
    assert documents[-1]["incident_state"] == "resolved"
    # Same ids whatever the seed: downstream tests can name them.
    other = day_of(Simulator(kaltim, registry, 5), "2024-11-27")
    assert sorted(r.report_id for r in other if r.episode == "samarinda-ulu-bentrok") == ids


def test_silent_area_sends_nothing_while_silent(kaltim: Any, registry: AreaRegistry) -> None:
    records = day_of(Simulator(kaltim, registry, 1), "2024-11-27")
    silent = kaltim.silent_areas[0]
    for record in records:
        if record.kind == "invalid":
            continue
        document = json.loads(record.raw)
        occurred = datetime.fromisoformat(document["occurred_at"])
        if silent.start <= occurred < silent.end:
            assert document.get("subdistrict") != silent.area


def test_every_kind_of_invalid_report_is_rejected(registry: AreaRegistry) -> None:
    document = json.loads(
        day_of(Simulator(load_scenario(KALTIM), registry, 1), "2024-11-27", 1)[0].raw
    )
    import random

    for kind in INVALID_KINDS:
        raw = corrupt(document, kind, random.Random(1))
        assert isinstance(parse_json_line(raw, registry, Defaults()), Rejection), kind


def test_texts_are_indonesian_with_varied_word_forms(kaltim: Any, registry: AreaRegistry) -> None:
    start = scenario_instant("2024-10-01", kaltim)
    texts = [
        json.loads(r.raw)["text"]
        for r in Simulator(kaltim, registry, 2).records(start, start + timedelta(days=20))
        if r.kind in {"incident", "episode"}
    ]
    corpus = " ".join(texts).lower()
    for forms in (("kampanye", "berkampanye"), ("dirusak", "perusakan")):
        assert all(re.search(rf"\b{form}\b", corpus) for form in forms), forms
    assert len(set(texts)) > 0.9 * len(texts)
    assert "lorem" not in corpus


def test_alternatives_expand() -> None:
    import random

    forms = {
        expand("[bentrok|bentrokan|terlibat [bentrok|perkelahian]]", random.Random(i))
        for i in range(200)
    }
    assert forms == {"bentrok", "bentrokan", "terlibat bentrok", "terlibat perkelahian"}


# --- pacing ------------------------------------------------------------------------------------


def test_speedup_paces_by_scenario_time(kaltim: Any, registry: AreaRegistry) -> None:
    records = day_of(Simulator(kaltim, registry, 1), "2024-11-27", 1)[:50]
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    clock = ScenarioClock(60, clock=lambda: now[0], sleep=sleep)
    assert list(clock.paced(records)) == records
    span = (records[-1].arrives_at - records[0].arrives_at).total_seconds()
    assert sum(slept) == pytest.approx(span / 60)
