"""Damaged local table stores are set aside before the worker starts, so Faust rebuilds them
from their changelog topics instead of crashing on every start.

The local RocksDB files are a cache of the changelog (the source of truth), so a store that
no longer opens (a disk that filled up mid-write, files overwritten, a bad copy) loses nothing
when it is moved aside: the worker restores that partition from Kafka, as on a new machine.
The damaged folder is kept (``*.damaged-<time>``) for a post-mortem, never deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import structlog

log = structlog.get_logger("streams.worker")

Opener = Callable[[Path], None]


def open_with_faust_options(path: Path) -> None:
    """Open and close one store the way Faust's rocksdict driver opens it."""
    from faust.stores.rocksdb import RocksDBOptions

    RocksDBOptions(use_rocksdict=True).open(path).close()


def _locked(error: BaseException) -> bool:
    # Another live worker holds it: not damage, and not ours to move.
    return "lock" in str(error).lower()


def set_aside_damaged_stores(
    data_dir: Path, now: datetime, opener: Opener = open_with_faust_options
) -> list[Path]:
    """Move every store under ``data_dir`` that fails to open aside; where they went."""
    moved: list[Path] = []
    if not data_dir.is_dir():
        return moved
    for store in sorted(p for p in data_dir.rglob("*.db") if p.is_dir()):
        try:
            opener(store)
        except Exception as error:  # rocksdict raises plain Exception for corruption
            if _locked(error):
                continue
            target = store.with_name(f"{store.name}.damaged-{now.strftime('%Y%m%dT%H%M%S')}")
            store.rename(target)
            moved.append(target)
            log.warning(
                "table store damaged: set aside, rebuilt from its changelog",
                store=str(store),
                kept_as=str(target),
                error=str(error)[:300],
            )
    return moved
