"""A rebalance that takes a partition away while the emit timer is reading its offsets must
not crash the worker: it crashed in the two-workers chaos scenario ("Partition is not
assigned")."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, Gauge

from streams.app import _fetched_all, _report_progress
from tests.streams.conftest import run_in_own_loop

TOPIC = "sitrep.reports"
KEPT, TAKEN = 0, 1


class _HalfRevoked:
    """Partition 0 is still ours (highwater 10, position 7); partition 1 went to another
    worker after the tick read the assignment, so an unstarted aiokafka consumer answers for
    it exactly as aiokafka does for any partition it does not hold."""

    def __init__(self, unassigned: AIOKafkaConsumer) -> None:
        self.unassigned = unassigned

    def highwater(self, tp: Any) -> int | None:
        return 10 if tp.partition == KEPT else self.unassigned.highwater(tp)

    async def position(self, tp: Any) -> int | None:
        return 7 if tp.partition == KEPT else await self.unassigned.position(tp)


def _runtime(consumer: _HalfRevoked, lag: Gauge) -> Any:
    topic = SimpleNamespace(get_topic_name=lambda: TOPIC)
    return SimpleNamespace(
        app=SimpleNamespace(consumer=consumer),
        reports_topic=topic,
        rollup_topic=SimpleNamespace(get_topic_name=lambda: "sitrep.rollup"),
        assigned=lambda name: [KEPT, TAKEN] if name == TOPIC else [],
        last_offsets={},
        metrics=SimpleNamespace(lag=lag, processed=0, meter=SimpleNamespace(rate=lambda: 0.0)),
        last_progress_log=0.0,
        exit_when_caught_up=False,
        stopping=False,
    )


def test_progress_skips_a_partition_revoked_mid_tick() -> None:
    registry = CollectorRegistry()
    lag = Gauge("lag", "lag", ["partition"], registry=registry)

    async def scenario() -> tuple[bool, float | None, float | None]:
        unassigned = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
        try:
            runtime = _runtime(_HalfRevoked(unassigned), lag)
            await _report_progress(runtime, [KEPT, TAKEN])
            fetched_all = await _fetched_all(runtime, [KEPT, TAKEN])
        finally:
            await unassigned.stop()
        return (
            fetched_all,
            registry.get_sample_value("lag", {"partition": str(KEPT)}),
            registry.get_sample_value("lag", {"partition": str(TAKEN)}),
        )

    fetched_all, kept_lag, taken_lag = run_in_own_loop(scenario)
    assert kept_lag == 3  # highwater 10, next to read 7
    assert taken_lag is None  # no figure for a partition this worker no longer reads
    assert fetched_all is False  # caught up is judged again on the next tick


def test_the_revoked_partition_really_raises_in_aiokafka() -> None:
    """Guards the stand-in above: if aiokafka stopped raising, the test would prove nothing."""

    async def scenario() -> list[str]:
        unassigned = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
        taken = TopicPartition(TOPIC, TAKEN)
        raised = []
        try:
            unassigned.highwater(taken)
        except Exception as exc:
            raised.append(type(exc).__name__)
        try:
            await unassigned.position(taken)
        except Exception as exc:
            raised.append(type(exc).__name__)
        await unassigned.stop()
        return raised

    assert run_in_own_loop(scenario) == ["AssertionError", "IllegalStateError"]
