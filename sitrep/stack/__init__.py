"""The local development stack: real Kafka and Elasticsearch started from Maven-resolved jars."""

from __future__ import annotations

from sitrep.settings import Settings

from .elasticsearch import ElasticsearchService
from .kafka import KafkaService
from .roles import stop_roles
from .service import Service, ServiceState, StartResult
from .tools import StackError


def services(settings: Settings) -> list[Service]:
    """In start order; stopped in reverse."""
    return [KafkaService(settings), ElasticsearchService(settings)]


def up(settings: Settings, only: str | None = None) -> list[StartResult]:
    """Launch every service first, then wait for each: the JVMs start up side by side."""
    launches = [service.launch() for service in _select(settings, only)]
    return [launch.wait_ready() for launch in launches]


def down(settings: Settings, only: str | None = None) -> list[tuple[str, bool]]:
    """Stop the pipeline roles the demo started (they need the stack), then the services."""
    roles = [(name, stopped) for name, stopped in stop_roles(settings) if stopped]
    services = [(service.name, service.stop()) for service in reversed(_select(settings, only))]
    return roles + services


def status(settings: Settings) -> list[ServiceState]:
    return [service.state() for service in services(settings)]


def _select(settings: Settings, only: str | None) -> list[Service]:
    chosen = [s for s in services(settings) if only is None or s.name == only]
    if not chosen:
        raise StackError(f"unknown service {only!r}; choose kafka or elasticsearch")
    return chosen


__all__ = [
    "Service",
    "ServiceState",
    "StackError",
    "StartResult",
    "down",
    "services",
    "status",
    "up",
]
