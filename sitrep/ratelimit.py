"""Token buckets: how often a key (an intake token, a client address, a user name) may act.

A bucket holds up to ``burst`` tokens and gains ``rate_per_s`` tokens per second; an action
costs one. The arithmetic is pure (``Bucket``, ``take``, ``retry_after``); ``RateLimiter``
keeps one bucket per key in a bounded map, with the clock passed in by the caller so tests
need no sleeping.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

__all__ = [
    "Bucket",
    "Decision",
    "RateLimit",
    "RateLimiter",
    "retry_after",
    "retry_after_header",
    "take",
]

# Buckets kept at most; the least recently used one is dropped first (it has refilled the
# longest, so forgetting it loses the least). Bounds memory against a flood of new keys.
DEFAULT_MAX_KEYS: Final = 100_000


@dataclass(frozen=True)
class RateLimit:
    """``burst`` actions at once, then ``rate_per_s`` per second. ``rate_per_s`` 0: no limit."""

    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate_per_s < 0 or self.burst < 1:
            raise ValueError(f"invalid rate limit: {self}")

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float  # monotonic seconds of the last update

    @classmethod
    def full(cls, limit: RateLimit, now: float) -> Bucket:
        return cls(float(limit.burst), now)

    def refilled(self, limit: RateLimit, now: float) -> Bucket:
        gained = max(0.0, now - self.at) * limit.rate_per_s
        return Bucket(min(float(limit.burst), self.tokens + gained), max(now, self.at))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float  # 0 when allowed; else when one token will be there again


def retry_after(bucket: Bucket, limit: RateLimit, cost: float = 1.0) -> float:
    """Seconds until ``bucket`` (already refilled) holds ``cost`` tokens."""
    missing = cost - bucket.tokens
    return 0.0 if missing <= 0 else missing / limit.rate_per_s


def take(
    bucket: Bucket, limit: RateLimit, now: float, cost: float = 1.0
) -> tuple[Bucket, Decision]:
    """Spend ``cost`` tokens if the bucket has them at ``now``; the new bucket and the verdict."""
    current = bucket.refilled(limit, now)
    if current.tokens >= cost:
        return Bucket(current.tokens - cost, current.at), Decision(True, 0.0)
    return current, Decision(False, retry_after(current, limit, cost))


def retry_after_header(seconds: float) -> str:
    """The ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


class RateLimiter:
    """One bucket per key. Thread-safe (the intake's threads and the event loop may share it)."""

    def __init__(self, limit: RateLimit, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.limit = limit
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float, cost: float = 1.0) -> Decision:
        """Spend from ``key``'s bucket (always allowed when the limit is off)."""
        if not self.limit.enabled:
            return Decision(True, 0.0)
        with self._lock:
            bucket = self._buckets.pop(key, None) or Bucket.full(self.limit, now)
            bucket, decision = take(bucket, self.limit, now, cost)
            self._remember(key, bucket)
            return decision

    def check(self, key: str, now: float, cost: float = 1.0) -> Decision:
        """Whether ``key`` could spend ``cost`` now, without spending it."""
        if not self.limit.enabled:
            return Decision(True, 0.0)
        with self._lock:
            bucket = self._buckets.get(key)
        if bucket is None:
            return Decision(True, 0.0)
        current = bucket.refilled(self.limit, now)
        wait = retry_after(current, self.limit, cost)
        return Decision(wait == 0.0, wait)

    def _remember(self, key: str, bucket: Bucket) -> None:
        self._buckets[key] = bucket
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
