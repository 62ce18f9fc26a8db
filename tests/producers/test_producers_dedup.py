"""Which report ids were accepted with which content: verdicts and the SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from producers.dedup import FingerprintStore, Verdict, judge, verdicts

T0 = datetime(2024, 11, 27, 8, tzinfo=UTC)


def test_judge() -> None:
    assert judge("a", None) is Verdict.NEW
    assert judge("a", "a") is Verdict.REPEAT
    assert judge("a", "b") is Verdict.CONFLICT


def test_a_batch_can_conflict_with_itself() -> None:
    judged = verdicts([("r1", "a"), ("r2", "b"), ("r1", "a"), ("r2", "c")], {"r3": "x"})
    assert [v for _, v in judged] == [Verdict.NEW, Verdict.NEW, Verdict.REPEAT, Verdict.CONFLICT]


def test_store_remembers_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "intake" / "accepted.sqlite"
    store = FingerprintStore(path, timedelta(days=1))
    store.remember({"r1": "a", "r2": "b"}, T0)
    store.remember({"r1": "changed"}, T0)  # first content wins: it is what Kafka holds
    store.close()
    reopened = FingerprintStore(path, timedelta(days=1))
    assert reopened.lookup(["r1", "r2", "r3"]) == {"r1": "a", "r2": "b"}
    assert reopened.count() == 2


def test_store_forgets_after_the_retention_horizon(tmp_path: Path) -> None:
    store = FingerprintStore(tmp_path / "a.sqlite", timedelta(hours=2))
    store.remember({"old": "a"}, T0)
    store.remember({"middle": "b"}, T0 + timedelta(minutes=30))  # no prune within the hour
    assert store.count() == 2
    # Over an hour since the last prune: remembering prunes what is older than 2 h.
    store.remember({"new": "c"}, T0 + timedelta(hours=2, minutes=15))
    assert store.lookup(["old", "middle", "new"]) == {"middle": "b", "new": "c"}
    assert store.prune(T0 + timedelta(hours=10)) == 2
    assert store.count() == 0


def test_lookup_of_many_ids(tmp_path: Path) -> None:
    store = FingerprintStore(tmp_path / "a.sqlite", timedelta(days=1))
    store.remember({f"r{i}": str(i) for i in range(1200)}, T0)
    found = store.lookup(f"r{i}" for i in range(0, 2400, 2))
    assert len(found) == 600 and found["r1198"] == "1198"
