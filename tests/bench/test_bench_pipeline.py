"""The pipeline benchmark's latency arithmetic, from the timestamps inside the messages."""

from __future__ import annotations

import pytest

from bench.pipeline import SentBatch, intake_latencies


def test_intake_latency_is_received_at_to_the_kafka_timestamp_of_the_sustained_phase() -> None:
    batches = [
        SentBatch("warmup", 99.0, ["w1"], ["64.71"]),
        SentBatch("sustained", 100.0, ["a", "b", "lost"], ["64.71", "64.72", "64.72"]),
    ]
    received = {"w1": 99.0, "a": 100.0, "b": 100.0}
    handed_over = {"w1": 99.5, "a": 100.02, "b": 100.25}
    assert intake_latencies(batches, received, handed_over, "sustained") == [
        pytest.approx(20.0),
        pytest.approx(250.0),
    ]


def test_a_clock_step_back_counts_as_no_time_not_as_negative() -> None:
    batches = [SentBatch("sustained", 100.0, ["a"], ["64.71"])]
    assert intake_latencies(batches, {"a": 100.0}, {"a": 99.9}, "sustained") == [0.0]
