"""Damaged local table stores are set aside (kept, renamed) so the worker rebuilds them from
the changelog; healthy stores and stores another worker holds open are left alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from faust.stores.rocksdb import RocksDBOptions

from streams.store_check import open_with_faust_options, set_aside_damaged_stores

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def make_store(path: Path) -> None:
    db = RocksDBOptions(use_rocksdict=True).open(path)
    db[b"64.71"] = b"state"
    db.close()


def test_damaged_store_is_set_aside_and_healthy_one_kept(tmp_path: Path) -> None:
    tables = tmp_path / "sitrep-worker-data" / "v1" / "tables"
    tables.mkdir(parents=True)
    healthy, damaged = tables / "areas-0.db", tables / "areas-1.db"
    make_store(healthy)
    make_store(damaged)
    (damaged / "CURRENT").write_bytes(b"\x00garbage")

    moved = set_aside_damaged_stores(tmp_path, NOW)

    assert moved == [tables / "areas-1.db.damaged-20261128T030000"]
    assert moved[0].is_dir() and not damaged.exists()  # kept for a post-mortem
    open_with_faust_options(healthy)  # still opens, untouched
    db = RocksDBOptions(use_rocksdict=True).open(healthy)
    assert db[b"64.71"] == b"state"
    db.close()


def test_store_held_by_another_worker_is_not_moved(tmp_path: Path) -> None:
    store = tmp_path / "areas-0.db"
    make_store(store)
    held = RocksDBOptions(use_rocksdict=True).open(store)
    try:
        assert set_aside_damaged_stores(tmp_path, NOW) == []
        assert store.is_dir()
    finally:
        held.close()


def test_missing_data_dir_is_nothing_to_check(tmp_path: Path) -> None:
    assert set_aside_damaged_stores(tmp_path / "never-started", NOW) == []


def test_table_stores_open_with_bounded_memory(tmp_path: Path) -> None:
    from streams.app import rocksdb_options
    from streams.settings import WorkerSettings

    worker = WorkerSettings(rocksdb_write_buffer_mib=2, rocksdb_block_cache_mib=3)
    options = RocksDBOptions(**rocksdb_options(worker), use_rocksdict=True)
    assert (options.write_buffer_size, options.max_write_buffer_number) == (2 * 2**20, 2)
    assert options.block_cache_size == 3 * 2**20
    db = options.open(tmp_path / "areas-0.db")
    db[b"64.71"] = b"state"
    assert db[b"64.71"] == b"state"
    db.close()
