"""Faust's commit bookkeeping with an offset acknowledged twice: a restarted worker that had
processed everything left its consumer lag standing for minutes, because each commit moved
only to the next duplicate (`sitrep chaos corrupt-state-store`)."""

from __future__ import annotations

from typing import Any

import faust
from faust.types import TP

from streams.app import _commit_bookkeeping, commit_past_duplicate_acks
from tests.streams.conftest import run_in_own_loop

TOPIC = "sitrep.reports"
TP0 = TP(TOPIC, 0)
COMMITTED, PROCESSED_TO = 7, 16  # offsets 7..16 processed; Kafka holds 7 as committed


async def _consumer_with_doubled_acks() -> Any:
    """A real Faust consumer (never started) as a restart leaves it: every offset from the
    committed one acknowledged, and the range after it also filled in as a gap, as Faust does
    when a fetch runs ahead of its read offset."""
    consumer = faust.App("t-commit-acks", broker="kafka://127.0.0.1:1").consumer
    consumer._committed_offset[TP0] = COMMITTED
    offsets = list(range(COMMITTED, PROCESSED_TO + 1))
    consumer._acked[TP0] = offsets
    consumer._acked_index[TP0] = set(offsets)
    await consumer._add_gap(TP0, COMMITTED + 1, PROCESSED_TO)
    return consumer


def _commits_until_done(consumer: Any) -> list[int]:
    """The offsets Faust's commit timer would commit, one timer tick after another."""
    committed: list[int] = []
    for _ in range(50):
        offset = consumer._new_offset(TP0)
        if offset is None:
            break
        committed.append(offset)
        consumer._committed_offset[TP0] = offset
        if offset == PROCESSED_TO + 1:
            break
    return committed


def test_faust_alone_commits_one_offset_per_tick_past_doubled_acks() -> None:
    # Guards the test below: this is the behaviour it exists for.
    consumer = run_in_own_loop(_consumer_with_doubled_acks)
    commits = _commits_until_done(consumer)
    assert commits[-1] == PROCESSED_TO + 1
    assert len(commits) >= 5


def test_doubled_acks_do_not_hold_back_the_commit() -> None:
    consumer = run_in_own_loop(_consumer_with_doubled_acks)
    commit_past_duplicate_acks(consumer)
    commit_past_duplicate_acks(consumer)  # installed once, however often an agent restarts
    assert _commits_until_done(consumer) == [9, PROCESSED_TO + 1]


def test_nothing_is_committed_that_was_not_acknowledged() -> None:
    consumer = faust.App("t-commit-gap", broker="kafka://127.0.0.1:1").consumer
    commit_past_duplicate_acks(consumer)
    consumer._committed_offset[TP0] = COMMITTED
    consumer._acked[TP0] = [7, 7, 8, 10, 10, 11]  # 9 still being processed
    assert consumer._new_offset(TP0) == 9
    assert consumer._acked[TP0] == [10, 11]


def test_health_page_shows_what_holds_a_commit_back() -> None:
    consumer = run_in_own_loop(_consumer_with_doubled_acks)
    # Merges the gap, commits up to the first duplicate (8), leaves 8 and 9..16 twice each.
    assert consumer._new_offset(TP0) == 9
    view = _commit_bookkeeping(consumer, TOPIC, [0, 1])
    assert view["0"] == {
        "committed": COMMITTED,
        "acked_waiting": 17,
        "acked_twice": 8,
        "acked_from": 8,
        "unacked": [],
    }
    assert view["1"]["acked_waiting"] == 0
