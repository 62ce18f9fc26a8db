"""The engine without a broker: dedup, lateness, incidents, silence, and crash replays."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from schemas.deadletter import Reason
from schemas.registry import AreaRegistry
from schemas.status import StatusLevel
from streams.app import _roll_up
from streams.area import AreaState
from streams.engine import Envelope, PartitionClock, PartitionEngine, Table
from streams.partitions import partition_for_key
from streams.render import (
    ProvinceState,
    comparable,
    render_area,
    render_province,
    roll_up,
    status_bytes,
)
from streams.scoring import ScoringConfig

Report = Callable[..., dict[str, Any]]


def test_duplicates_count_once_and_replayed_offsets_are_not_duplicates(
    harness: Any, report: Report
) -> None:
    first = report(0, report_id="dup-1", category="riot", severity=5)
    harness.feed(first, first, batch=2)  # same batch
    harness.feed(first)  # later batch
    clock = PartitionClock.decode(harness.store.get(Table.CLOCKS, "0"))
    assert (clock.applied, clock.duplicates) == (1, 2)
    assert harness.state("64.71").buckets.window(harness.state("64.71").clock, 60).reports == 1

    # The same offset delivered again (a restart before the commit) is applied, not dropped.
    again = PartitionEngine(harness.config, harness.registry, harness.engine.zone)
    raw = json.dumps(first).encode()
    result = again.process(0, [Envelope("t", 0, 0, b"k", raw)], harness.store, datetime.now(UTC))
    assert (result.applied, result.duplicates) == (1, 0)
    assert harness.status("64.71").open_incidents == 1  # and still counted once


def test_invalid_records_become_dead_letters(harness: Any, report: Report) -> None:
    unknown = report(0, district="64.99", subdistrict=None)
    harness.feed(b"{oops", b"[1, 2]", unknown, report(0))
    reasons = [d.reason for d in harness.dead_letters]
    assert reasons == [Reason.INVALID_JSON, Reason.VALIDATION_FAILED, Reason.VALIDATION_FAILED]
    letter = harness.dead_letters[2]
    assert letter.report_id == unknown["report_id"] and letter.district == "64.99"
    assert letter.origin is not None and letter.origin.offset == 2
    assert any(error.path == "district" for error in letter.errors)


def test_late_reports_are_placed_in_their_window_too_late_ones_dead_lettered(
    harness: Any, report: Report
) -> None:
    harness.feed(report(600, category="crowd", severity=2))  # stream time 18:00
    harness.feed(report(300, category="clash", severity=4))  # 5 h late: counted at 13:00
    state = harness.state("64.71")
    assert state.buckets.window(state.clock, 1440).reports == 2
    assert state.buckets.window(state.clock, 60).reports == 1  # the late one is not in the hour
    harness.feed(report(239, category="riot", severity=5))  # 6 h 01 min late
    assert [d.reason for d in harness.dead_letters] == [Reason.TOO_LATE]
    assert "stream time" in harness.dead_letters[0].errors[0].message
    # The late clash still counts, decayed from when it happened (300 minutes before).
    assert harness.status("64.71").score == pytest.approx(
        2 * 1.5 + 20 * harness.config.decay(300), abs=0.01
    )


def test_follow_ups_update_one_incident(harness: Any, report: Report) -> None:
    harness.feed(report(0, report_id="inc", category="riot", severity=5))
    assert harness.status("64.71").open_incidents == 1
    harness.feed(report(20, report_id="f1", incident_id="inc", category="riot", state="handling"))
    status = harness.status("64.71")
    assert status.open_incidents == 1
    assert status.score == pytest.approx(8 * 3.0 * 0.5)  # severity 4 from the follow-up
    harness.feed(report(40, report_id="f2", incident_id="inc", state="resolved"))
    status = harness.status("64.71")
    assert (status.open_incidents, status.score, status.top_reports) == (0, 0.0, ())
    # An older follow-up arriving late does not reopen it: the latest report decides.
    harness.feed(report(30, report_id="f0", incident_id="inc", category="riot", state="open"))
    assert harness.status("64.71").open_incidents == 0


def test_incident_moves_between_kecamatan(harness: Any, report: Report) -> None:
    harness.feed(report(0, report_id="inc", subdistrict="64.71.01"))
    harness.feed(report(10, report_id="f1", incident_id="inc", subdistrict="64.71.02"))
    assert harness.status("64.71.01").open_incidents == 0
    assert harness.status("64.71.02").open_incidents == 1
    assert harness.status("64.71").open_incidents == 1


def test_silence_with_a_controllable_clock(harness: Any, report: Report) -> None:
    harness.feed(report(0, kind="check_in", category="other", severity=1))
    regency_interval = harness.config.silence_minutes.regency
    quiet = harness.status("64.71", at_minutes=regency_interval)
    assert quiet.level is StatusLevel.AMAN
    silent = harness.status("64.71", at_minutes=regency_interval + 1)
    assert silent.level is StatusLevel.TIDAK_ADA_KABAR
    assert silent.previous_level is StatusLevel.AMAN
    assert silent.level_changed_at == datetime(2024, 2, 14, 8, 0, tzinfo=UTC) + timedelta(
        minutes=regency_interval - 8 * 60
    )
    assert "check-in" in silent.change_reason

    harness.feed(report(regency_interval + 30, category="crowd", severity=1))
    resumed = harness.status("64.71")
    assert resumed.level is StatusLevel.AMAN
    assert resumed.previous_level is StatusLevel.TIDAK_ADA_KABAR
    assert "Kontak pulih" in resumed.change_reason


def test_never_reporting_area_goes_silent_from_the_watch_start(
    harness: Any, config: ScoringConfig, registry: AreaRegistry
) -> None:
    state = AreaState.new("64.71.05", "district", 0, minute=1000)
    interval = config.silence_minutes.district
    ok = render_area(
        state, registry.require("64.71.05"), 1000 + interval, config, UTC, datetime.now(UTC)
    )
    silent = render_area(
        state, registry.require("64.71.05"), 1001 + interval, config, UTC, datetime.now(UTC)
    )
    assert (ok.level, silent.level) == (StatusLevel.AMAN, StatusLevel.TIDAK_ADA_KABAR)


def test_status_explains_itself(harness: Any, report: Report) -> None:
    harness.feed(
        report(0, report_id="c1", category="clash", severity=4),
        report(5, report_id="r1", category="riot", severity=5),
        report(6, report_id="h1", category="hoax", severity=2, subdistrict="64.71.02"),
    )
    status = harness.status("64.71")
    assert status.level is StatusLevel.AWAS
    assert status.counts_by_category == {"clash": 1, "hoax": 1, "riot": 1}
    assert status.counts_by_severity == {"2": 1, "4": 1, "5": 1}
    assert [t.report_id for t in status.top_reports] == ["r1", "c1", "h1"]
    assert "AWAS" in status.change_reason and "r1" in status.change_reason
    assert status.last_report_at is not None and status.last_report_at.minute == 6


def test_province_rolls_up_regencies(
    harness: Any, report: Report, registry: AreaRegistry, config: ScoringConfig
) -> None:
    harness.feed(
        report(0, district="64.71", subdistrict=None, category="riot", severity=5),
        report(0, district="64.72", subdistrict=None, category="hoax", severity=2),
    )
    province = ProvinceState("64", {})
    for code in ("64.71", "64.72"):
        province = province.with_regency(harness.status(code))
    status = render_province(province, registry.require("64"), 5, datetime.now(UTC))
    assert status.level is StatusLevel.SIAGA  # 64.71 at SIAGA (48), 64.72 AMAN
    assert status.score == pytest.approx(48 + 1.6)
    assert status.open_incidents == 2
    assert "64.71" in status.change_reason
    assert ProvinceState.decode(province.encode()) == province


class _Event:
    """A roll-up record as the agent gets it (Faust keeps a weak reference to the current one)."""

    def __init__(self, value: bytes, offset: int) -> None:
        self.message = SimpleNamespace(value=value, offset=offset)


class _CountingTable(dict[bytes, bytes]):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes += 1
        super().__setitem__(key, value)


def test_a_roll_up_batch_writes_each_province_once_and_ends_as_one_by_one(
    harness: Any, report: Report
) -> None:
    harness.feed(
        report(0, district="64.71", subdistrict=None, category="riot", severity=5),
        report(1, district="64.72", subdistrict=None, category="hoax", severity=2),
        report(2, district="64.71", subdistrict=None, category="clash", severity=4),
    )
    published = [harness.status("64.71", 0), harness.status("64.72", 1), harness.status("64.71")]
    one_by_one = ProvinceState("64", {})
    for status in published:
        one_by_one = one_by_one.with_regency(status)

    runtime = SimpleNamespace(provinces=_CountingTable(), dirty_provinces=set(), last_activity=0.0)
    events = [_Event(status_bytes(status), offset) for offset, status in enumerate(published)]
    events.insert(1, _Event(b"{broken", 99))
    _roll_up(runtime, events)  # type: ignore[arg-type]

    assert runtime.provinces.writes == 1
    assert runtime.dirty_provinces == {"64"}
    assert ProvinceState.decode(runtime.provinces[b"64"]) == roll_up(
        ProvinceState("64", {}), published
    )
    assert ProvinceState.decode(runtime.provinces[b"64"]) == one_by_one


# --- determinism: batch sizes and crashes ------------------------------------------------------


def messy_day(registry: AreaRegistry, count: int, seed: int) -> list[bytes]:
    """Incidents, follow-ups, check-ins, duplicates, late and broken records over 12 hours."""
    rng = random.Random(seed)
    regencies = registry.regencies("64")[:4]
    start = datetime(2024, 2, 14, 8, 0, tzinfo=UTC)
    incidents: list[tuple[str, str]] = []
    records: list[bytes] = []
    for index in range(count):
        occurred = start + timedelta(minutes=index * 720 / count + rng.uniform(-60, 2))
        if rng.random() < 0.01:
            occurred -= timedelta(hours=8)  # too late
        regency = rng.choice(regencies)
        data: dict[str, Any] = {
            "report_id": f"m-{index}",
            "occurred_at": occurred.isoformat(),
            "received_at": (occurred + timedelta(minutes=3)).isoformat(),
            "district": regency.code,
            "subdistrict": rng.choice(registry.districts(regency.code)).code,
            "kind": "incident",
            "category": rng.choice(["riot", "clash", "hoax", "crowd"]),
            "severity": rng.randint(1, 5),
            "incident_state": "open",
            "reporter": {"unit": "Polres", "role": "polres"},
            "source": "app",
            "phase": "voting",
            "text": "uji",
            "schema_version": 1,
        }
        roll = rng.random()
        if roll < 0.1:
            data.update(kind="check_in", category="other", severity=1)
        elif roll < 0.45 and incidents:
            incident, district = rng.choice(incidents)
            data.update(
                district=district,
                incident_id=incident,
                incident_state=rng.choice(["handling", "resolved"]),
            )
            data.pop("subdistrict")
        else:
            incidents.append((data["report_id"], data["district"]))
        records.append(json.dumps(data).encode())
        if rng.random() < 0.05:
            records.append(records[rng.randrange(len(records))])
        if rng.random() < 0.01:
            records.append(b"not json")
    return records


def envelopes_of(records: Iterable[bytes], partitions: int = 3) -> list[Envelope]:
    offsets: dict[int, int] = {}
    result = []
    for raw in records:
        try:
            key = json.loads(raw)["district"]
        except ValueError:
            key = "64.01"
        partition = partition_for_key(key, partitions)
        offset = offsets[partition] = offsets.get(partition, -1) + 1
        result.append(Envelope("sitrep.reports", partition, offset, key.encode(), raw))
    return result


class VersionedStore:
    """A Store that remembers every version of every key, to stage crashes."""

    def __init__(self) -> None:
        self.history: dict[tuple[Table, str], list[tuple[int, bytes | None]]] = {}
        self.batch = 0

    def get(self, table: Table, key: str) -> bytes | None:
        versions = self.history.get((table, key))
        return versions[-1][1] if versions else None

    def put(self, table: Table, key: str, value: bytes) -> None:
        self.history.setdefault((table, key), []).append((self.batch, value))

    def delete(self, table: Table, key: str) -> None:
        if self.get(table, key) is not None:
            self.history[(table, key)].append((self.batch, None))

    def scan(self, table: Table) -> list[tuple[str, bytes]]:
        result = []
        for (name, key), versions in self.history.items():
            if name is table and versions[-1][1] is not None:
                result.append((key, versions[-1][1]))
        return result

    def crash(self, committed_batch: int, rng: random.Random) -> VersionedStore:
        """Each key independently at any version from the committed one onwards."""
        survivor = VersionedStore()
        for key, versions in self.history.items():
            committed = [i for i, (batch, _) in enumerate(versions) if batch <= committed_batch]
            lowest = committed[-1] if committed else -1
            pick = rng.randint(lowest, len(versions) - 1)
            if pick >= 0 and versions[pick][1] is not None:
                survivor.history[key] = [(0, versions[pick][1])]
        survivor.batch = self.batch
        return survivor


def run(
    engine_factory: Callable[[], PartitionEngine],
    envelopes: list[Envelope],
    store: Any,
    batch_sizes: Iterable[int],
    start: int = 0,
    stop: int | None = None,
    dead_letters: set[tuple[str | None, str]] | None = None,
) -> list[int]:
    """Feed envelopes[start:stop] in batches (split per partition); returns batch end positions.

    ``dead_letters`` collects (report id, reason) of every record set aside."""
    engine = engine_factory()
    sizes = iter(batch_sizes)
    position, ends = start, []
    stop = len(envelopes) if stop is None else stop
    while position < stop:
        chunk = envelopes[position : min(stop, position + next(sizes))]
        by_partition: dict[int, list[Envelope]] = {}
        for envelope in chunk:
            by_partition.setdefault(envelope.partition, []).append(envelope)
        for partition, group in by_partition.items():
            result = engine.process(partition, group, store, datetime.now(UTC))
            if dead_letters is not None:
                dead_letters.update((d.report_id, d.reason.value) for d in result.dead_letters)
        position += len(chunk)
        ends.append(position)
        if hasattr(store, "batch"):
            store.batch += 1
    return ends


def final_view(
    store: Any, registry: AreaRegistry, config: ScoringConfig, partitions: int = 3
) -> dict[str, Any]:
    clocks = {}
    for partition in range(partitions):
        raw = store.get(Table.CLOCKS, str(partition))
        if raw:
            clocks[partition] = PartitionClock.decode(raw)
    view = {}
    codes = [r.code for r in registry.regencies("64")[:4]]
    codes += [d.code for code in codes for d in registry.districts(code)]
    for code in codes:
        raw = store.get(Table.AREAS, code)
        if raw is None:
            continue
        state = AreaState.decode(raw)
        now = clocks[state.partition].clock
        assert now is not None
        status = render_area(
            state, registry.require(code), now, config, UTC, datetime(2030, 1, 1, tzinfo=UTC)
        )
        view[code] = comparable(status)
    view["counters"] = {p: c.counters() for p, c in sorted(clocks.items())}
    return view


@pytest.fixture(scope="module")
def day(registry: AreaRegistry) -> list[Envelope]:
    return envelopes_of(messy_day(registry, 2500, seed=11))


def test_batch_sizes_do_not_change_the_result(
    day: list[Envelope], registry: AreaRegistry, config: ScoringConfig
) -> None:
    def engine() -> PartitionEngine:
        return PartitionEngine(config, registry, UTC)

    views = []
    for sizes in ([1000] * 100, [1] * len(day), [random.Random(5).randint(1, 90) for _ in day]):
        store = VersionedStore()
        run(engine, day, store, sizes)
        views.append(final_view(store, registry, config))
    assert views[0] == views[1] == views[2]
    assert any(v["level"] != "AMAN" for k, v in views[0].items() if k != "counters")


@pytest.mark.parametrize("seed", range(6))
def test_crash_and_replay_from_the_commit_gives_the_same_result(
    seed: int, day: list[Envelope], registry: AreaRegistry, config: ScoringConfig
) -> None:
    """Crash at a random batch, keys left at any version from the commit on, replay after it."""
    rng = random.Random(seed)

    def engine() -> PartitionEngine:
        return PartitionEngine(config, registry, UTC)

    clean, set_aside = VersionedStore(), set[tuple[str | None, str]]()
    run(engine, day, clean, [rng.randint(20, 200) for _ in day], dead_letters=set_aside)
    expected = final_view(clean, registry, config)

    crashed, set_aside_twice = VersionedStore(), set[tuple[str | None, str]]()
    crash_at = rng.randint(len(day) // 4, 3 * len(day) // 4)
    sizes = [rng.randint(20, 200) for _ in day]
    ends = run(engine, day, crashed, sizes, stop=crash_at, dead_letters=set_aside_twice)
    committed_batch = rng.randint(max(0, len(ends) - 20), len(ends) - 1)
    resume = ends[committed_batch - 1] if committed_batch > 0 else 0
    survivor = crashed.crash(committed_batch - 1, rng)
    sizes = [rng.randint(20, 200) for _ in day]
    run(engine, day, survivor, sizes, start=resume, dead_letters=set_aside_twice)
    assert final_view(survivor, registry, config) == expected
    # A record replayed after the crash is set aside only if it was the first time.
    assert set_aside_twice == set_aside
