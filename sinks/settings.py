"""Settings of the sinks: indexer (``SITREP_INDEXER__*``) and web service (``SITREP_WEB__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IndexerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: str = "sitrep-indexer"


class WebSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
