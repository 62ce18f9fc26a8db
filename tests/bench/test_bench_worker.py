"""The worker benchmark's per-second latency: a stall must show in the second it happened."""

from __future__ import annotations

from bench.worker import latency_by_second, shares


def test_each_second_gets_the_latencies_of_the_reports_sent_in_it() -> None:
    timed = [(0.1, 300.0), (0.9, 100.0), (1.0, 2000.0), (1.5, 400.0), (3.2, 250.0)]
    assert latency_by_second(timed) == [
        {"second": 0, "p50": 100.0, "p99": 300.0, "max": 300.0},
        {"second": 1, "p50": 400.0, "p99": 2000.0, "max": 2000.0},
        {"second": 3, "p50": 250.0, "p99": 250.0, "max": 250.0},
    ]


def test_no_reports_no_seconds() -> None:
    assert latency_by_second([]) == []


def test_each_workers_share_of_the_reports() -> None:
    assert shares([300, 700]) == [30.0, 70.0]
    assert shares([0, 0]) == [0.0, 0.0]
