"""Settings of the intake roles (HTTP intake, file producer, simulator): ``SITREP_INTAKE__*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class IntakeSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(
        default=1, ge=1, description="intake processes (each with its own Kafka producer)"
    )
    validation_workers: int = Field(
        default=1,
        ge=0,
        description="processes that validate request bodies beside the event loop (0: inline)",
    )
    max_batch: int = Field(default=1000, ge=1, description="reports per request, else 413")
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="request body size, else 413"
    )
    tokens_file: Path | None = Field(
        default=None, description="hashed API tokens (YAML); default HOME/intake/tokens.yaml"
    )
    dedup_file: Path | None = Field(
        default=None,
        description="SQLite file of accepted report ids; default HOME/intake/accepted.sqlite",
    )
    dedup_retention_days: float = Field(
        default=30, gt=0, description="how long a report id is remembered for duplicate checks"
    )
    ack_timeout_s: float = Field(
        default=30, gt=0, description="wait for Kafka's acknowledgement before answering 503"
    )
    # kafka-python's send() blocks the caller while its buffer is full or metadata is missing.
    max_block_ms: int = Field(default=5000, ge=100)
    rate_limit_per_s: float = Field(
        default=20.0,
        ge=0,
        description="requests per second per token, sustained (0: no limit); else 429",
    )
    rate_limit_burst: int = Field(
        default=200, ge=1, description="requests a token may send at once before the rate counts"
    )
    cors_origins: tuple[str, ...] = Field(
        default=(),
        description="browser origins allowed to call the intake (CORS); none by default",
    )

    def tokens_path(self, home: Path) -> Path:
        return self.tokens_file or home / "intake" / "tokens.yaml"

    def dedup_path(self, home: Path) -> Path:
        return self.dedup_file or home / "intake" / "accepted.sqlite"
