"""Settings of the Faust worker (status engine, later alert rules): ``SITREP_WORKER__*``.

Rules (weights, thresholds, windows, intervals) are not settings: they live in the scoring
file (``streams/config/scoring.yaml``, or ``scoring_config`` to use another one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WorkerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    app_id: str = Field(
        default="sitrep-worker",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Faust app id: consumer group and prefix of the worker's internal topics",
    )
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=1, le=65535)
    scoring_config: Path | None = Field(
        default=None, description="scoring rules file; default: the packaged scoring.yaml"
    )
    rules_dir: Path | None = Field(
        default=None, description="alert rule files (*.yaml); default: the packaged rules/"
    )
    sites_dir: Path | None = Field(
        default=None, description="protected sites for proximity rules; default: rules/sites/"
    )
    alerts_enabled: bool = Field(default=True, description="evaluate alert rules in the worker")
    store: Literal["rocksdict", "memory"] = Field(
        default="rocksdict", description="table store; memory keeps state only in the changelog"
    )
    data_dir: Path | None = Field(default=None, description="table stores; default HOME/worker")
    # Faust opens one RocksDB per table and partition (7 tables x partitions) with 64 MiB write
    # buffers (up to 3) and a 2 GiB block cache each: memory then grows with every write until
    # the buffers are full. These bound each database (docs/engine.md, "Memory and expiry").
    rocksdb_write_buffer_mib: int = Field(
        default=4, ge=1, le=256, description="RocksDB memtable size per table and partition"
    )
    rocksdb_block_cache_mib: int = Field(
        default=4, ge=1, le=4096, description="RocksDB read cache per table and partition"
    )
    producer_linger_ms: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="wait at most this to gather records into one produce request",
    )
    fetch_max_wait_ms: int = Field(
        default=50,
        ge=1,
        le=30000,
        description="the broker holds a fetch at most this long for data (Faust's own: 1500)",
    )
    changelog_hold_ms: int = Field(
        default=3000,
        ge=0,
        le=60000,
        description=(
            "table writes wait at most this for a later value of their key before they go to "
            "the changelog (only the latest is sent; every offset commit sends them all)"
        ),
    )
    batch_size: int = Field(default=1000, ge=1, description="reports taken per batch at most")
    batch_within_ms: int = Field(default=100, ge=1, description="wait at most this for a batch")
    emit_interval_ms: int = Field(
        default=1000, ge=50, description="debounce: an area's status is sent at most this often"
    )
    heartbeat_s: float = Field(
        default=60.0, gt=0, description="every status is re-sent this often even if unchanged"
    )
    session_timeout_s: float = Field(
        default=30.0,
        ge=6,
        le=300,
        description="a worker that stopped answering loses its partitions after this",
    )
    clock: Literal["auto", "event"] = Field(
        default="auto",
        description=(
            "auto: statuses follow the wall clock while the data is live, event time otherwise; "
            "event: only event time moves the clock (replays of old data)"
        ),
    )
    live_horizon_h: float = Field(
        default=24.0,
        gt=0,
        description="data is live when its newest received_at is at most this old (clock=auto)",
    )
