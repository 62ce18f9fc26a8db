"""Frozen settings from the environment (prefix ``SITREP_``, nested with ``__``) and ``.env``.

Example: ``SITREP_KAFKA__BOOTSTRAP_SERVERS=10.0.0.5:9092`` or ``SITREP_STACK__ES_HEAP=1g``.
Secrets are ``SecretStr`` so they never show up in logs or reprs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from producers.settings import IntakeSettings
from sinks.settings import IndexerSettings, KibanaSettings, NotifySettings, WebSettings
from streams.settings import WorkerSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicNames(_Section):
    reports: str = "sitrep.reports"
    deadletter: str = "sitrep.deadletter"
    status: str = "sitrep.status"
    alerts: str = "sitrep.alerts"
    # Beyond DESIGN.md's four: acknowledgements for the worker, silences and notification
    # delivery records for the notifier (issue 6).
    alert_commands: str = "sitrep.alert-commands"
    silences: str = "sitrep.silences"
    deliveries: str = "sitrep.deliveries"
    # Who acknowledged, silenced or exported what, when (the web service's audit trail).
    audit: str = "sitrep.audit"


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (every client of the pipeline supports these).
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # TLS (SSL, SASL_SSL): the CA that signed the brokers' certificates (default: the system's),
    # a client certificate and key for mutual TLS, and whether the host name must match.
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: SecretStr | None = Field(default=None, description="of an encrypted key")
    ssl_check_hostname: bool = True
    topics: TopicNames = TopicNames()
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Reports and alerts are the source of truth (all else is rebuilt from them): keep forever.
    reports_retention_ms: int = -1
    alerts_retention_ms: int = -1
    deadletter_retention_ms: int = 90 * 24 * 3600 * 1000
    audit_retention_ms: int = -1

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL")

    def client_options(self) -> dict[str, object]:
        """Connection options shared by every kafka-python and aiokafka client (TLS comes on
        top: ``ssl_options`` for kafka-python, an SSL context for aiokafka and Faust)."""
        options: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism or self.uses_sasl:
            options["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            options["sasl_plain_username"] = self.sasl_username
            if self.sasl_password is not None:
                options["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return options

    def ssl_options(self) -> dict[str, object]:
        """kafka-python's TLS options; empty without TLS."""
        if not self.uses_tls:
            return {}
        options: dict[str, object] = {"ssl_check_hostname": self.ssl_check_hostname}
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(self, name)
            if value is not None:
                options[name] = str(value)
        if self.ssl_password is not None:
            options["ssl_password"] = self.ssl_password.get_secret_value()
        return options


class ElasticsearchSettings(_Section):
    url: str = "http://127.0.0.1:9200"
    username: str | None = None
    password: SecretStr | None = None
    # The encoded key Elasticsearch returns (base64 of id:key), or "id:key"; wins over basic auth.
    api_key: SecretStr | None = None
    verify_certs: bool = True
    # HTTPS: the CA of the cluster's certificate (default: the system's), or its SHA-256
    # fingerprint (as `elasticsearch-certutil` prints it); a client certificate and key.
    ca_certs: Path | None = None
    ssl_assert_fingerprint: str | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    request_timeout_s: float = Field(default=30.0, gt=0)

    def client_options(self) -> dict[str, object]:
        """Keyword arguments of ``elasticsearch.Elasticsearch`` besides the URL."""
        options: dict[str, object] = {
            "verify_certs": self.verify_certs,
            "request_timeout": self.request_timeout_s,
        }
        if self.api_key is not None:
            key = self.api_key.get_secret_value()
            ident, colon, secret = key.partition(":")
            options["api_key"] = (ident, secret) if colon else key
        elif self.username and self.password is not None:
            options["basic_auth"] = (self.username, self.password.get_secret_value())
        for name in ("ca_certs", "client_cert", "client_key"):
            value = getattr(self, name)
            if value is not None:
                options[name] = str(value)
        if self.ssl_assert_fingerprint:
            options["ssl_assert_fingerprint"] = self.ssl_assert_fingerprint
        return options


class StackSettings(_Section):
    """The local development stack (deploy/local): real Kafka and Elasticsearch from Maven jars."""

    kafka_version: str = "3.9.2"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    kafka_sasl: bool = Field(
        default=False,
        description=(
            "SASL/PLAIN on Kafka's client listener: the one user is SITREP_KAFKA__SASL_USERNAME "
            "with SITREP_KAFKA__SASL_PASSWORD (clients need SECURITY_PROTOCOL=SASL_PLAINTEXT)"
        ),
    )
    es_port: int = 9200
    es_heap: str = "512m"
    java: str | None = None
    maven: str = "mvn"
    startup_timeout_s: float = Field(default=180.0, gt=0)
    assets_dir: Path = PROJECT_ROOT / "deploy" / "local"
    jars_dir: Path | None = Field(
        default=None,
        description="cache of resolved jars; default HOME/jars, shareable between homes",
    )


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "console", "json"] = "auto"


class TracingSettings(_Section):
    """Optional OpenTelemetry tracing of a report from intake to index (docs/operations.md)."""

    enabled: bool = False
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    service_name: str | None = Field(default=None, description="default: sitrep-<role>")
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)


class MonitoringSettings(_Section):
    """Who may read the worker's web pages and the indexer's and notifier's metrics servers
    (every page but the health checks): bearer tokens, stored hashed (sitrep/monitoring.py)."""

    tokens_file: Path | None = Field(
        default=None,
        description="hashed monitoring tokens (YAML); default HOME/monitoring/tokens.yaml",
    )

    def tokens_path(self, home: Path) -> Path:
        return self.tokens_file or home / "monitoring" / "tokens.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SITREP_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        frozen=True,
        extra="ignore",
    )

    home: Path = Field(default=Path(".sitrep"), description="state, data and logs of local runs")
    province_code: str = "64"
    timezone: str = Field(
        default="Asia/Makassar",
        description="local time of the operation (WITA): shown in the web, reports and reasons",
    )
    kafka: KafkaSettings = KafkaSettings()
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    stack: StackSettings = StackSettings()
    log: LogSettings = LogSettings()
    tracing: TracingSettings = TracingSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    intake: IntakeSettings = IntakeSettings()
    worker: WorkerSettings = WorkerSettings()
    indexer: IndexerSettings = IndexerSettings()
    web: WebSettings = WebSettings()
    notify: NotifySettings = NotifySettings()
    kibana: KibanaSettings = KibanaSettings()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}, e.g. Asia/Makassar") from None
        return name


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides win (used by the CLI and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]


def describe_settings_error(error: ValidationError) -> str:
    """One line per bad setting, named as the environment variable the user has to fix."""
    lines = ["invalid settings:"]
    for problem in error.errors():
        variable = "SITREP_" + "__".join(str(part) for part in problem["loc"]).upper()
        lines.append(f"  {variable}: {problem['msg']}")
    return "\n".join(lines)
