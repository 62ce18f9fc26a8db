"""`sitrep topics ensure` creates the DESIGN.md topics with partitions, retention and compaction."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from sitrep import clients
from sitrep.settings import Settings, TopicNames
from sitrep.topics import desired_topics, ensure_topics

pytestmark = pytest.mark.integration

SITREP = str(Path(sys.executable).with_name("sitrep"))


def _ensure(env: dict[str, str]) -> str:
    result = subprocess.run(
        [SITREP, "topics", "ensure"], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_topics_are_created_once_with_their_settings(local_stack: Settings) -> None:
    prefix = f"it{uuid.uuid4().hex[:8]}"
    env = {
        f"SITREP_KAFKA__TOPICS__{role.upper()}": f"{prefix}.{role}"
        for role in TopicNames.model_fields
    }
    first = _ensure(env)
    second = _ensure(env)

    assert first.count("created") == len(env) == 8
    assert "created" not in second and second.count("unchanged") == len(env)

    admin = clients.kafka_admin(local_stack)
    try:
        described = {
            t["name"]: t for t in admin.describe_topics([f"{prefix}.reports", f"{prefix}.status"])
        }
        configs = admin.describe_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC, f"{prefix}.{role}", ["cleanup.policy", "retention.ms"]
                )
                for role in ("status", "reports", "silences", "audit")
            ],
            config_filter="all",
        )["topic"]
        admin.delete_topics(list(env.values()))
    finally:
        admin.close()

    assert len(described[f"{prefix}.reports"]["partitions"]) == 6
    assert configs[f"{prefix}.status"]["cleanup.policy"]["value"] == "compact"
    assert configs[f"{prefix}.reports"]["cleanup.policy"]["value"] == "delete"
    assert configs[f"{prefix}.silences"]["cleanup.policy"]["value"] == "compact"
    assert configs[f"{prefix}.audit"]["retention.ms"]["value"] == "-1"  # the trail is kept


def test_a_drifted_retention_is_put_back(local_stack: Settings) -> None:
    prefix = f"it{uuid.uuid4().hex[:8]}"
    env = {f"SITREP_KAFKA__TOPICS__{r.upper()}": f"{prefix}.{r}" for r in TopicNames.model_fields}
    _ensure(env)
    changed = _ensure({**env, "SITREP_KAFKA__DEADLETTER_RETENTION_MS": "3600000"})
    admin = clients.kafka_admin(local_stack)
    try:
        admin.delete_topics(list(env.values()))
    finally:
        admin.close()
    assert f"{prefix}.deadletter" in changed and "updated    retention.ms=3600000" in changed


def test_two_processes_creating_the_same_topics_at_once_both_succeed(
    local_stack: Settings,
) -> None:
    # Two workers (or roles) starting together both declare the same topics; the one that
    # loses the race must not crash (it did, with TopicAlreadyExistsError).
    prefix = f"it{uuid.uuid4().hex[:8]}"
    names = TopicNames(**{role: f"{prefix}.{role}" for role in TopicNames.model_fields})
    kafka = local_stack.kafka.model_copy(update={"topics": names})
    specs = desired_topics(kafka)
    outcomes: list[object] = []

    def ensure() -> None:
        admin = clients.kafka_admin(local_stack)
        try:
            outcomes.append(ensure_topics(admin, specs))
        except Exception as error:  # the assertion below names it
            outcomes.append(error)
        finally:
            admin.close()

    threads = [threading.Thread(target=ensure) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    admin = clients.kafka_admin(local_stack)
    try:
        present = {t for t in admin.list_topics() if t.startswith(prefix)}
        admin.delete_topics(sorted(present))
    finally:
        admin.close()
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert len(outcomes) == 3 and present == {s.name for s in specs}
