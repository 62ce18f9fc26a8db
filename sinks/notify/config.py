"""The channels file (YAML): channel name -> type and parameters, validated at start.

Secrets are never in the file: it names the environment variables that hold them
(``secret_env``, ``token_env``, ``password_env``); a missing variable is a start-up error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, TypeAdapter, ValidationError

from schemas.alert import AlertChange

__all__ = [
    "DEFAULT_NOTIFY_ON",
    "ChannelConfig",
    "ChannelsConfig",
    "ConfigError",
    "EmailChannel",
    "LogChannel",
    "ResolvedChannel",
    "SlackChannel",
    "TelegramChannel",
    "WebhookChannel",
    "load_channels",
    "parse_channels",
    "resolve_secrets",
]

DEFAULT_NOTIFY_ON: Final = (
    AlertChange.FIRED,
    AlertChange.ESCALATED,
    AlertChange.ACKNOWLEDGED,
    AlertChange.RESOLVED,
)
_CHANNEL_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_ENV_NAME: Final = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, Field(pattern=_ENV_NAME, description="environment variable name")]
Recipient = Annotated[str, Field(min_length=1, max_length=256)]


class ConfigError(Exception):
    """The channels file (or a secret it references) is not usable; one line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}:\n" + "\n".join(f"  {p}" for p in problems))


class _Channel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    notify_on: tuple[AlertChange, ...] = Field(
        default=DEFAULT_NOTIFY_ON, description="alert changes this channel hears about"
    )
    default_recipients: tuple[Recipient, ...] = Field(
        default=(), description="used when an alert route names no recipients"
    )

    def secret_envs(self) -> dict[str, str | None]:
        """Parameter -> environment variable holding its secret (None: not configured)."""
        return {}


class WebhookChannel(_Channel):
    """Generic JSON webhook, signed with HMAC-SHA256 (header X-Sitrep-Signature)."""

    type: Literal["webhook"]
    url: HttpUrl
    secret_env: EnvName
    headers: dict[str, str] = Field(default_factory=dict, description="extra, non-secret headers")

    def secret_envs(self) -> dict[str, str | None]:
        return {"secret": self.secret_env}


class SlackChannel(_Channel):
    """Slack or Mattermost incoming webhook; the URL itself is the secret."""

    type: Literal["slack"]
    url_env: EnvName

    def secret_envs(self) -> dict[str, str | None]:
        return {"url": self.url_env}


class TelegramChannel(_Channel):
    """Telegram Bot API sendMessage; recipients are chat ids."""

    type: Literal["telegram"]
    token_env: EnvName
    base_url: HttpUrl = HttpUrl("https://api.telegram.org")

    def secret_envs(self) -> dict[str, str | None]:
        return {"token": self.token_env}


class EmailChannel(_Channel):
    """E-mail over SMTP; recipients are addresses."""

    type: Literal["email"]
    host: Annotated[str, Field(min_length=1)]
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password_env: EnvName | None = None
    from_address: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]

    def secret_envs(self) -> dict[str, str | None]:
        return {"password": self.password_env}


class LogChannel(_Channel):
    """A structured log line per notification (no secrets, never fails)."""

    type: Literal["log"]


ChannelConfig = Annotated[
    WebhookChannel | SlackChannel | TelegramChannel | EmailChannel | LogChannel,
    Field(discriminator="type"),
]


class ChannelsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: dict[Annotated[str, Field(pattern=_CHANNEL_NAME)], ChannelConfig] = Field(
        min_length=1
    )


_ADAPTER: Final = TypeAdapter(ChannelsConfig)


@dataclass(frozen=True)
class ResolvedChannel:
    """A channel with its secrets read from the environment."""

    name: str
    config: WebhookChannel | SlackChannel | TelegramChannel | EmailChannel | LogChannel
    secrets: Mapping[str, str]

    def __repr__(self) -> str:  # secrets never in logs or tracebacks
        return f"ResolvedChannel(name={self.name!r}, type={self.config.type!r})"


def parse_channels(text: str, source: str = "channels file") -> ChannelsConfig:
    """Validate the YAML text; ConfigError lists every problem with its path."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, ["must be a mapping with a `channels:` section"])
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            # Drop pydantic's union tag from the path ("channels.x.webhook.url" -> "...x.url").
            loc = [str(p) for p in error["loc"]]
            if len(loc) >= 3 and loc[0] == "channels" and loc[2] in _TYPES:
                del loc[2]
            problems.append(f"{'.'.join(loc) or '(top)'}: {error['msg']}")
        raise ConfigError(source, problems) from None


_TYPES: Final = {"webhook", "slack", "telegram", "email", "log"}


def resolve_secrets(
    config: ChannelsConfig,
    env: Mapping[str, str],
    source: str = "channels file",
    only: str | None = None,
) -> dict[str, ResolvedChannel]:
    """Read every referenced secret from ``env``; a missing or empty one is a ConfigError.

    ``only``: resolve just that channel (``sitrep notify test``).
    """
    problems: list[str] = []
    resolved: dict[str, ResolvedChannel] = {}
    for name, channel in config.channels.items():
        if only is not None and name != only:
            continue
        secrets: dict[str, str] = {}
        for param, variable in channel.secret_envs().items():
            if variable is None:
                continue
            value = env.get(variable, "")
            if not value:
                problems.append(
                    f"channels.{name}: environment variable {variable} ({param}) is not set"
                )
            else:
                secrets[param] = value
        resolved[name] = ResolvedChannel(name, channel, secrets)
    if problems:
        raise ConfigError(source, problems)
    return resolved


def load_channels(
    path: Path, env: Mapping[str, str], only: str | None = None
) -> dict[str, ResolvedChannel]:
    """Read, validate and resolve the channels file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    return resolve_secrets(parse_channels(text, str(path)), env, str(path), only)


def channel_summary(channel: ResolvedChannel) -> dict[str, Any]:
    """What `sitrep notify check` prints about a channel (no secrets)."""
    cfg = channel.config
    summary: dict[str, Any] = {"type": cfg.type, "notify_on": [c.value for c in cfg.notify_on]}
    if isinstance(cfg, WebhookChannel):
        summary["url"] = str(cfg.url)
    elif isinstance(cfg, TelegramChannel):
        summary["base_url"] = str(cfg.base_url)
    elif isinstance(cfg, EmailChannel):
        summary["smtp"] = f"{cfg.host}:{cfg.port}" + (" starttls" if cfg.starttls else "")
    return summary
