"""Settings of the sinks: indexer (``SITREP_INDEXER__*``) and web service (``SITREP_WEB__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class IndexerSettings(BaseModel):
    """The Elasticsearch indexer and the indices it manages (also read by search)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: str = "sitrep-indexer"
    index_prefix: str = Field(
        default="sitrep",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$",
        description="first part of every index, alias and template name",
    )
    shards: int = Field(default=1, ge=1)
    # 0 keeps the single local node green; production clusters set 1 or more.
    replicas: int = Field(default=0, ge=0)
    refresh_interval: str = "1s"
    bulk_max_actions: int = Field(default=2000, ge=1)  # as the Kafka Connect ES sink
    bulk_max_bytes: int = Field(default=5_000_000, ge=1024)
    flush_interval_ms: int = Field(default=200, ge=1, description="oldest record waits this long")
    max_poll_records: int = Field(default=2000, ge=1)
    retry_initial_ms: int = Field(default=200, ge=1)
    retry_max_ms: int = Field(default=30_000, ge=1)
    metrics_host: str = Field(default="127.0.0.1", description="bind address of /metrics")
    metrics_port: int = Field(default=9108, ge=0, le=65535, description="0 = no metrics server")
    stall_timeout_s: float = Field(
        default=120.0, gt=0, description="`sitrep index` exits (for a restart) if its loop stalls"
    )


class WebSettings(BaseModel):
    """The web service: analyst search API now, the control room later."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    language: Literal["id", "en"] = "id"
    max_page_size: int = Field(default=100, ge=1, le=1000)
