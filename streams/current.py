"""Faust's "current event": which partition a table read or write belongs to."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

__all__ = ["partition_of", "table_read"]


@contextlib.contextmanager
def partition_of(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event, so table access goes to its partition.

    ``take_events`` hands over events from several partitions at once while Faust's tables
    route reads and writes by the single "current event"; this sets it per partition group.
    """
    from faust.streams import _current_event

    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def table_read(table: Any, key: bytes) -> bytes | None:
    """A Faust table's value for ``key`` in the current event's partition, or None.

    Straight from the table's store: ``table.get`` asks RocksDB twice (``key in`` and then the
    value) and this runs for every report. Reads have no side effect in Faust (a sensor
    count only); writes must still go through the table, which sends them to the changelog.
    """
    value: bytes | None = table.data.get(key)
    return value
