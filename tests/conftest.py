"""Shared fixtures. Integration tests run against the real local Kafka and Elasticsearch.

The stack is started once per test session (the same code as ``sitrep stack up``) and stopped at
the end if this session started it. A stack that cannot start fails the tests; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sitrep import stack
from sitrep.settings import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def local_stack(settings: Settings) -> Iterator[Settings]:
    """Running Kafka and Elasticsearch with the pipeline's topics; yields settings to reach them."""
    from sitrep import clients
    from sitrep.topics import desired_topics, ensure_topics

    results = stack.up(settings)
    admin = clients.kafka_admin(settings)
    try:
        ensure_topics(admin, desired_topics(settings.kafka))
    finally:
        admin.close()
    yield settings
    started_here = {r.name for r in results if r.started}
    for service in reversed(stack.services(settings)):
        if service.name in started_here:
            service.stop()


@pytest.fixture
def stack_services(local_stack: Settings) -> Iterator[dict[str, stack.Service]]:
    """The stack's services by name, for tests that stop and restart Kafka or Elasticsearch.

    Whatever a test stops is started again afterwards, so later tests find the stack running.
    """
    yield {service.name: service for service in stack.services(local_stack)}
    stack.up(local_stack)
