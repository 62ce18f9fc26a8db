"""The worker never commits what it did not apply: failures exit, internal topics pre-exist."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sitrep import clients
from streams.app import EXIT_PROCESSING_FAILED, declare_internal_topics, internal_topics

SCRIPT = """
import asyncio
from streams.app import exit_on_failure

async def agent():
    with exit_on_failure("status-engine", 3):
        raise ValueError("table says no")
    print("went on")  # must never run: Faust would then ack the batch

asyncio.run(agent())
"""


def test_a_processing_error_ends_the_process_before_anything_is_acknowledged() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode == EXIT_PROCESSING_FAILED
    assert "went on" not in output
    assert "processing failed; exiting without committing the batch" in output
    assert "table says no" in output


@pytest.mark.integration
def test_internal_topics_exist_before_faust_starts(isolated: object) -> None:
    settings = isolated.settings_for()  # type: ignore[attr-defined]
    worker = settings.worker.model_copy(update={"app_id": f"{isolated.prefix}-w"})  # type: ignore[attr-defined]
    settings = settings.model_copy(update={"worker": worker})
    declare_internal_topics(settings, partitions=6)
    declare_internal_topics(settings, partitions=6)  # idempotent

    admin = clients.kafka_admin(settings)
    try:
        wanted = [spec.name for spec in internal_topics(settings, 6)]
        described = {t["name"]: t for t in admin.describe_topics(wanted)}
    finally:
        admin.close()
    assert sorted(described) == sorted(wanted)
    assert all(len(t["partitions"]) == 6 for t in described.values())
    assert f"{isolated.prefix}-w-areas-changelog" in described  # type: ignore[attr-defined]
