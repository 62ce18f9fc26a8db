"""Settings of the sinks: indexer (``SITREP_INDEXER__*``), web service (``SITREP_WEB__*``),
notifier (``SITREP_NOTIFY__*``) and the Kibana saved objects (``SITREP_KIBANA__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


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
    # A fetch long-polls this long for new records. Short, because the loop pauses every
    # partition while a full batch waits for Elasticsearch: after the resume, the next records
    # come only with the next fetch (aiokafka's 500 ms default cost a third of the throughput).
    fetch_max_wait_ms: int = Field(default=50, ge=1, le=5000)
    # One is fastest on a small node (two bulks at once contend for its cores); more can pay off
    # on a cluster with several data nodes. Commits stay in batch order either way.
    max_in_flight_batches: int = Field(
        default=1, ge=1, le=8, description="bulk requests under way at once"
    )
    max_poll_interval_ms: int = Field(
        default=60_000, ge=5_000, description="the indexer leaves its group if it stops polling"
    )
    rebalance_timeout_ms: int = Field(
        default=20_000,
        ge=1_000,
        description="how long a rebalance waits for a member that does not rejoin",
    )
    retry_initial_ms: int = Field(default=200, ge=1)
    retry_max_ms: int = Field(default=30_000, ge=1)
    metrics_host: str = Field(default="127.0.0.1", description="bind address of /metrics")
    metrics_port: int = Field(default=9108, ge=0, le=65535, description="0 = no metrics server")
    stall_timeout_s: float = Field(
        default=120.0, gt=0, description="`sitrep index` exits (for a restart) if its loop stalls"
    )


# Who a request without any credential is; "none" makes every route need a login.
AnonymousRole = Literal["none", "viewer", "analyst", "commander"]


class WebSettings(BaseModel):
    """The web service: control room, analyst search, alerts; who may use which part."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    language: Literal["id", "en"] = "id"
    max_page_size: int = Field(default=100, ge=1, le=1000)
    tokens_file: Path | None = Field(
        default=None,
        description="hashed operator tokens (YAML); default HOME/web/operators.yaml",
    )

    users_file: Path | None = Field(
        default=None,
        description="users with scrypt-hashed passwords (YAML); default HOME/web/users.yaml",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="key that signs session cookies; default one generated into "
        "HOME/web/session.key",
    )
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30, description="login lifetime")
    trusted_user_header: str | None = Field(
        default=None,
        description="request header naming the user (e.g. X-Forwarded-User); ONLY behind a "
        "proxy that strips it from clients",
    )
    anonymous_role: AnonymousRole = Field(
        default="viewer",
        description="what a request without credentials may do; production: none",
    )
    # Failed logins (wrong user or password) a client address and a user name may have: a
    # burst, then so many per minute; beyond that 429 with Retry-After, even for the right
    # password. Successful logins do not count. 0 per minute: no limit.
    login_failures_burst_per_address: int = Field(default=30, ge=1)
    login_failures_per_minute_per_address: float = Field(default=6.0, ge=0)
    login_failures_burst_per_user: int = Field(default=10, ge=1)
    login_failures_per_minute_per_user: float = Field(default=1.0, ge=0)
    cors_origins: tuple[str, ...] = Field(
        default=(),
        description="other sites' origins allowed to call the API from a browser; none by default",
    )
    hsts_max_age_s: int = Field(
        default=0,
        ge=0,
        description="Strict-Transport-Security max-age; set only when served over HTTPS (0: off)",
    )

    def tokens_path(self, home: Path) -> Path:
        return self.tokens_file or home / "web" / "operators.yaml"

    def users_path(self, home: Path) -> Path:
        return self.users_file or home / "web" / "users.yaml"

    def session_key_path(self, home: Path) -> Path:
        return home / "web" / "session.key"


DEFAULT_CHANNELS_FILE = (
    Path(__file__).resolve().parent.parent / "deploy" / "notify" / "channels.yaml"
)


class NotifySettings(BaseModel):
    """The notifier (`sitrep notify`): channels, retries, dedupe look-back, metrics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: str = "sitrep-notify"
    channels_file: Path = Field(
        default=DEFAULT_CHANNELS_FILE, description="YAML file naming the channels (docs/notify.md)"
    )
    language: Literal["id", "en"] = "id"
    max_attempts: int = Field(default=5, ge=1, description="per notification, including the first")
    retry_base_ms: int = Field(default=500, ge=1, description="first backoff (then doubled)")
    retry_max_ms: int = Field(default=60_000, ge=1, description="backoff never exceeds this")
    attempt_timeout_s: float = Field(default=10.0, gt=0, description="per HTTP/SMTP attempt")
    lookback_days: float = Field(
        default=30.0,
        gt=0,
        description="delivery records read back at start (dedupe); also where a new group starts",
    )
    max_pending: int = Field(
        default=10_000, ge=1, description="notifications queued before consuming pauses"
    )
    commit_interval_ms: int = Field(default=500, ge=10)
    drain_timeout_s: float = Field(default=15.0, ge=0, description="on SIGTERM, for in-flight")
    metrics_host: str = Field(default="127.0.0.1", description="bind address of /metrics")
    metrics_port: int = Field(default=9310, ge=0, le=65535, description="0 = no metrics server")


DEFAULT_KIBANA_OBJECTS_FILE = (
    Path(__file__).resolve().parent.parent / "deploy" / "kibana" / "sitrep.ndjson"
)


class KibanaSettings(BaseModel):
    """Where `sitrep kibana import` puts the data views, dashboard and saved search."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(default="http://127.0.0.1:5601", description="Kibana's base URL")
    username: str | None = None
    password: SecretStr | None = None
    # An encoded API key (base64 of id:key, as Elasticsearch returns it) or "id:key"; wins over
    # username and password.
    api_key: SecretStr | None = None
    space: str = Field(
        default="default",
        pattern=r"^[a-z0-9_-]{1,100}$",
        description="Kibana space the objects go to (its URL identifier)",
    )
    verify_certs: bool = True
    ca_certs: Path | None = Field(default=None, description="CA of Kibana's certificate")
    request_timeout_s: float = Field(default=60.0, gt=0)
    objects_file: Path = Field(
        default=DEFAULT_KIBANA_OBJECTS_FILE, description="the saved objects (NDJSON) to import"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")) or len(url.rstrip("/")) <= len("https://"):
            raise ValueError("an http:// or https:// URL, e.g. https://kibana.example:5601")
        return url
