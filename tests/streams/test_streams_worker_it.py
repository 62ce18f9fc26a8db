"""The worker against the real Kafka: a scripted escalation, dead letters, and kill -9.

Each test gets its own topics (``it-<id>.*``) and runs ``sitrep worker`` as a subprocess.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from schemas.registry import AreaRegistry
from schemas.status import AreaStatus
from sitrep.settings import Settings
from tests.monitoring import assert_monitoring_access, monitoring_auth

pytestmark = pytest.mark.integration

WITA = ZoneInfo("Asia/Makassar")
T0 = datetime(2024, 2, 14, 8, 0, tzinfo=WITA)
DATA = Path(__file__).parent / "data"
Toolkit = Any  # the ``it`` fixture (tests/streams/conftest.py)

# After each of these reports, the levels the escalation must show (hand-derived from the
# thresholds in scoring.yaml: regency 8/24/60, kecamatan 4/12/30, calm period 60 min).
CHECKPOINTS: list[tuple[str, dict[str, str]]] = [
    ("esc-011", {"64.72": "AMAN", "64.72.09": "AMAN", "64": "AMAN"}),  # crowd sev 2: 3.0
    ("esc-012", {"64.72": "AMAN", "64.72.09": "WASPADA", "64": "AMAN"}),  # + hoax: 6.1
    ("esc-013", {"64.72": "WASPADA", "64.72.09": "SIAGA", "64": "WASPADA"}),  # 13.9
    ("esc-014", {"64.72": "SIAGA", "64.72.09": "AWAS", "64": "SIAGA"}),  # + clash: 33.1
    ("esc-015", {"64.72": "AWAS", "64.72.09": "AWAS", "64": "AWAS"}),  # + riot: 79.2
    ("esc-021", {"64.72": "AWAS", "64.72.09": "AWAS", "64": "AWAS"}),  # all resolved: calm
    ("esc-022", {"64.72": "AWAS", "64.72.09": "AWAS", "64": "AWAS"}),  # 10:20, still calm
    ("esc-023", {"64.72": "AMAN", "64.72.09": "AMAN", "64": "AMAN"}),  # 11:05, calm over
]


class StatusWatcher:
    """Reads a status topic as it is written."""

    def __init__(self, settings: Settings, topic: str) -> None:
        from kafka import TopicPartition

        from sitrep import clients

        self.consumer = clients.kafka_consumer(settings)
        tps = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.records: list[AreaStatus] = []

    def wait_for(
        self, predicate: Callable[[AreaStatus], bool], what: str, timeout: float = 30
    ) -> AreaStatus:
        deadline = time.monotonic() + timeout
        checked = 0
        while time.monotonic() < deadline:
            for batch in self.consumer.poll(timeout_ms=200).values():
                self.records.extend(AreaStatus.model_validate_json(r.value) for r in batch)
            for status in self.records[checked:]:
                if predicate(status):
                    return status
            checked = len(self.records)
        raise AssertionError(f"no status {what} within {timeout}s")

    def levels(self, code: str) -> list[str]:
        """The level sequence of an area, repeats collapsed."""
        sequence: list[str] = []
        for status in self.records:
            if status.area_code == code and (not sequence or sequence[-1] != status.level.value):
                sequence.append(status.level.value)
        return sequence

    def close(self) -> None:
        self.consumer.close()


def last_contact(status: AreaStatus) -> datetime | None:
    times = [t for t in (status.last_report_at, status.last_check_in_at) if t is not None]
    return max(times) if times else None


def decayed(weight: float, age_minutes: int) -> float:
    return weight * 0.5 ** (age_minutes / 180)


def test_escalation_level_sequence_dead_letters_and_duplicates(it: Toolkit) -> None:
    lines = (DATA / "escalation.jsonl").read_text(encoding="utf-8").splitlines()
    reports = {json.loads(line)["report_id"]: line.encode() for line in lines}
    order = list(reports)
    unknown_area = {**json.loads(reports["esc-011"]), "report_id": "bad-1", "district": "64.99"}
    unknown_area.pop("subdistrict")
    it.produce([b"{not json", json.dumps(unknown_area).encode()])

    worker = it.worker("escalation").start()
    worker.wait_ready()
    watcher = StatusWatcher(it.settings, it.topic("status"))
    try:
        sent = 0
        for checkpoint, expected in CHECKPOINTS:
            upto = order.index(checkpoint) + 1
            batch = [reports[rid] for rid in order[sent:upto]]
            if checkpoint == "esc-015":
                batch.append(reports["esc-015"])  # a duplicate, to be counted once
            it.produce(batch)
            sent = upto
            occurred = datetime.fromisoformat(json.loads(reports[checkpoint])["occurred_at"])
            for code, level in expected.items():
                status = watcher.wait_for(
                    lambda s, code=code, at=occurred: s.area_code == code and last_contact(s) == at,
                    f"for {code} after {checkpoint}",
                )
                if code == "64" and status.level.value != level:
                    # The province follows its regencies through the roll-up topic.
                    status = watcher.wait_for(
                        lambda s, level=level: s.area_code == "64" and s.level.value == level,
                        f"for the province at {level} after {checkpoint}",
                    )
                assert status.level.value == level, (checkpoint, code, status)
            if checkpoint == "esc-015":
                riot_step = watcher.wait_for(
                    lambda s, at=occurred: s.area_code == "64.72" and last_contact(s) == at,
                    "for 64.72 after the riot",
                )
                expected_score = (
                    decayed(3.0, 50) + decayed(3.2, 40) + decayed(8.0, 30) + decayed(20.0, 15) + 48
                )
                assert riot_step.score == pytest.approx(expected_score, abs=0.01)
                assert riot_step.open_incidents == 5
                assert riot_step.top_reports[0].report_id == "esc-015"
                assert "AWAS" in riot_step.change_reason

        assert watcher.levels("64.72") == ["AMAN", "WASPADA", "SIAGA", "AWAS", "AMAN"]
        assert watcher.levels("64.72.09") == ["AMAN", "WASPADA", "SIAGA", "AWAS", "AMAN"]
        final = [s for s in watcher.records if s.area_code == "64.72"][-1]
        assert final.previous_level is not None and final.previous_level.value == "AWAS"
        assert "di bawah ambang AWAS" in final.change_reason
        assert final.level_changed_at == datetime(2024, 2, 14, 10, 30, tzinfo=WITA)
        assert (final.open_incidents, final.score, final.top_reports) == (0, 0.0, ())

        # Stream time is now 11:05; a riot that happened before 05:05 is too late to count.
        too_late = json.loads(reports["esc-015"])
        occurred = T0 - timedelta(hours=4)
        too_late.update(
            report_id="late-1",
            occurred_at=occurred.isoformat(),
            received_at=(occurred + timedelta(minutes=1)).isoformat(),
        )
        it.produce([json.dumps(too_late).encode()])
        # Every regency and kecamatan of the province has a status, plus the province.
        codes = {s.area_code for s in watcher.records}
        assert {"64", "64.01", "64.71", "64.72", "64.72.09", "64.01.01"} <= codes

        totals: dict[str, int] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and totals.get("too_late") != 1:
            health = worker.health() or {"partitions": {}}
            counters = [c for c in health["partitions"].values() if c]
            totals = {k: sum(c[k] for c in counters) for k in ("duplicates", "too_late", "invalid")}
            time.sleep(0.2)
        assert totals == {"duplicates": 1, "too_late": 1, "invalid": 2}
        detail = httpx.get(
            f"http://127.0.0.1:{worker.port}/areas/64.72.09", headers=monitoring_auth(), timeout=5
        ).json()
        long_window = detail["engine"]["windows"][1]
        assert long_window["reports"] == 11  # 5 incidents + 6 follow-ups, the duplicate not
    finally:
        watcher.close()

    dead = [json.loads(value) for _, value in it.read(it.topic("deadletter"))]
    assert sorted(d["reason"] for d in dead) == ["invalid_json", "too_late", "validation_failed"]
    for record in dead:
        assert record["stage"] == "worker"
        assert record["origin"]["topic"] == it.topic("reports")
    assert {d.get("report_id") for d in dead} == {None, "late-1", "bad-1"}


def test_every_worker_page_but_health_needs_a_monitoring_token(it: Toolkit) -> None:
    """Against the running worker: each page with no, a wrong and the right token (the
    route list and Faust's own pages: tests/security/test_monitoring_auth.py)."""
    first = (DATA / "escalation.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert json.loads(first)["district"] == "64.01"
    it.produce([first.encode()])
    worker = it.worker("pages").start()
    worker.wait_ready()
    base = f"http://127.0.0.1:{worker.port}"
    deadline = time.monotonic() + 30
    while httpx.get(f"{base}/tables/areas/64.01", headers=monitoring_auth()).status_code != 200:
        assert time.monotonic() < deadline, "64.01 never reached the areas table"
        time.sleep(0.2)
    assert_monitoring_access(
        base,
        protected=["/metrics", "/areas", "/areas/64.01", "/tables/areas/64.01", "/", "/router/"],
        public=["/healthz", "/livez"],
    )
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    metrics = httpx.get(f"{base}/metrics", headers=monitoring_auth()).text
    assert "sitrep_worker_" in metrics


# --- kill -9 ------------------------------------------------------------------------------------


def crash_input(registry: AreaRegistry, count: int, seed: int = 7) -> list[bytes]:
    """A busy, messy day across the province: incidents, follow-ups, check-ins, duplicates,
    out-of-order and invalid records. Deterministic for a seed."""
    rng = random.Random(seed)
    regencies = registry.regencies("64")
    categories = ["crowd", "hoax", "intimidation", "clash", "riot", "money_politics", "crime"]
    open_incidents: list[tuple[str, str, str | None]] = []
    records: list[bytes] = []
    for index in range(count):
        minute = index * 720 / count + rng.uniform(-30, 5)  # 12 h, some out of order
        occurred = T0 + timedelta(minutes=minute)
        regency = rng.choice(regencies)
        districts = registry.districts(regency.code)
        sub = rng.choice(districts).code if districts and rng.random() < 0.8 else None
        report: dict[str, Any] = {
            "report_id": f"crash-{index:05d}",
            "occurred_at": occurred.isoformat(),
            "received_at": (occurred + timedelta(minutes=rng.uniform(0, 40))).isoformat(),
            "district": regency.code,
            "kind": "incident",
            "category": rng.choice(categories),
            "severity": rng.randint(1, 5),
            "incident_state": "open",
            "reporter": {"unit": f"Polres {regency.name}", "role": "polres"},
            "source": "app",
            "phase": "voting",
            "text": "uji",
            "schema_version": 1,
        }
        roll = rng.random()
        if roll < 0.15:
            report.update(kind="check_in", category="other", severity=1)
        elif roll < 0.40 and open_incidents:
            incident, district, incident_sub = rng.choice(open_incidents)
            report.update(
                district=district,
                incident_id=incident,
                incident_state=rng.choice(["handling", "resolved", "open"]),
            )
            report.pop("subdistrict", None)
            sub = incident_sub if rng.random() < 0.7 else None
        else:
            open_incidents.append((report["report_id"], regency.code, sub))
        if sub:
            report["subdistrict"] = sub
        records.append(json.dumps(report).encode())
        if rng.random() < 0.03:
            records.append(records[rng.randrange(len(records))])  # duplicate
        if rng.random() < 0.005:
            records.append(b'{"report_id": "broken"')
    return records


COMPARED = (
    "level",
    "score",
    "counts_by_category",
    "counts_by_severity",
    "open_incidents",
    "top_reports",
    "last_report_at",
    "last_check_in_at",
)


def final_statuses(statuses: list[AreaStatus]) -> dict[str, dict[str, Any]]:
    latest = {s.area_code: s for s in statuses}
    result = {}
    for code, status in latest.items():
        facts = {field: getattr(status, field) for field in COMPARED}
        if status.area_level != "province":  # the province's history depends on timing
            facts.update(
                previous_level=status.previous_level,
                level_changed_at=status.level_changed_at,
                change_reason=status.change_reason,
            )
        result[code] = facts
    return result


def test_kill_9_mid_stream_gives_the_same_final_statuses(
    it: Toolkit, registry: AreaRegistry
) -> None:
    records = crash_input(registry, 6000)
    crashed = it.worker("crashed", status_topic=it.status_topic("status-crashed"))
    crashed.start(SITREP_WORKER__BATCH_SIZE="200")
    crashed.wait_ready()

    # Feed while the worker runs; kill it once it is well into the stream.
    killed_at = None
    for start in range(0, len(records), 300):
        it.produce(records[start : start + 300])
        health = crashed.health() or {}
        if killed_at is None and health.get("processed", 0) >= 1500:
            killed_at = health["processed"]
            crashed.kill9()
    deadline = time.monotonic() + 60
    while killed_at is None and time.monotonic() < deadline:
        health = crashed.health() or {}
        if health.get("processed", 0) >= 1500:
            killed_at = health["processed"]
            crashed.kill9()
        time.sleep(0.05)
    assert killed_at is not None and killed_at < len(records), "never killed mid-stream"

    restarted = it.worker("crashed", status_topic=it.status_topic("status-crashed"))
    restarted.start("--exit-when-caught-up")
    uninterrupted = it.worker("clean", status_topic=it.status_topic("status-clean"))
    uninterrupted.start("--exit-when-caught-up")
    assert restarted.wait_exit(180) == 0, restarted.tail()
    assert uninterrupted.wait_exit(180) == 0, uninterrupted.tail()

    clean = final_statuses(it.statuses(it.isolated.prefix + ".status-clean"))
    after_crash = final_statuses(it.statuses(it.isolated.prefix + ".status-crashed"))
    assert set(clean) == set(after_crash)
    differences = {
        code: (clean[code], after_crash[code]) for code in clean if clean[code] != after_crash[code]
    }
    assert not differences, list(differences.items())[:3]
    # The run had something to say: several levels, open incidents, the province.
    levels = {facts["level"].value for facts in clean.values()}
    assert len(levels) >= 2
    assert clean["64"]["open_incidents"] > 0


def test_replay_rebuilds_statuses_with_new_rules(it: Toolkit, tmp_path: Path) -> None:
    import yaml

    from streams.scoring import default_scoring_path

    it.produce((DATA / "escalation.jsonl").read_bytes().splitlines())
    first = it.worker("replayed").start("--exit-when-caught-up")
    assert first.wait_exit(120) == 0, first.tail()
    before = {s.area_code: s for s in it.statuses()}
    assert before["64.72"].level.value == "AMAN"

    # New rules: a standing risk for Kota Samarinda keeps it at SIAGA.
    rules = yaml.safe_load(default_scoring_path().read_text(encoding="utf-8"))
    rules["baseline_risk"] = {"64.72": 30}
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    replay = it.worker("replayed").start(
        "--from",
        "beginning",
        "--yes",
        "--exit-when-caught-up",
        command="replay",
        SITREP_WORKER__SCORING_CONFIG=str(rules_path),
    )
    assert replay.wait_exit(120) == 0, replay.tail()
    after = {s.area_code: s for s in it.statuses()}  # compacted topic: latest per area
    assert after["64.72"].level.value == "SIAGA"
    assert after["64.72"].score == 30.0
    assert after["64"].level.value == "SIAGA"
    assert after["64.72.09"] == before["64.72.09"].model_copy(
        update={"updated_at": after["64.72.09"].updated_at}
    )
    assert "reports to replay" in replay.log_path.read_text()
