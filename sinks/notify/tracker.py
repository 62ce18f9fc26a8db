"""Which ``sitrep.alerts`` offsets may be committed: those whose notifications are all final.

Thread-safe: the consume loop records offsets, channel workers (and producer callbacks) mark
notification keys final. Several records may wait on one key (the same state published twice).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

__all__ = ["OffsetTracker"]


class OffsetTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, dict[int, set[str]]] = {}  # partition -> offset -> keys
        self._next: dict[int, int] = {}  # partition -> last offset read + 1
        self._waiters: dict[str, list[tuple[int, int]]] = {}  # key -> (partition, offset)

    def start(self, partition: int, offset: int) -> None:
        """Where reading of ``partition`` starts (nothing before it is ours to commit)."""
        with self._lock:
            self._next[partition] = offset

    def record(self, partition: int, offset: int, keys: Iterable[str]) -> None:
        """A record was read; ``keys`` are the notifications it still waits for."""
        with self._lock:
            self._next[partition] = max(self._next.get(partition, 0), offset + 1)
            waiting = set(keys)
            if not waiting:
                return
            self._pending.setdefault(partition, {})[offset] = waiting
            for key in waiting:
                self._waiters.setdefault(key, []).append((partition, offset))

    def final(self, key: str) -> None:
        """Notification ``key`` reached a final status."""
        with self._lock:
            for partition, offset in self._waiters.pop(key, ()):
                keys = self._pending.get(partition, {}).get(offset)
                if keys is None:
                    continue
                keys.discard(key)
                if not keys:
                    del self._pending[partition][offset]

    def committable(self) -> dict[int, int]:
        """Per partition, the offset to commit: the first record still waiting, else next."""
        with self._lock:
            result: dict[int, int] = {}
            for partition, next_offset in self._next.items():
                waiting = self._pending.get(partition)
                result[partition] = min(waiting) if waiting else next_offset
            return result

    def pending(self) -> int:
        """Records still waiting for a notification."""
        with self._lock:
            return sum(len(offsets) for offsets in self._pending.values())
