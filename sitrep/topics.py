"""The pipeline's Kafka topics (names from DESIGN.md) and how to bring a cluster in line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sitrep.settings import KafkaSettings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicChange:
    topic: str
    action: str  # created | updated | unchanged | warning
    detail: str = ""


def desired_topics(kafka: KafkaSettings) -> list[TopicSpec]:
    """The topics of DESIGN.md with their partitions and retention, from settings."""
    names = kafka.topics

    def spec(name: str, **configs: str) -> TopicSpec:
        return TopicSpec(name, kafka.partitions, kafka.replication_factor, configs)

    return [
        spec(
            names.reports,
            **{"cleanup.policy": "delete", "retention.ms": str(kafka.reports_retention_ms)},
        ),
        spec(
            names.deadletter,
            **{"cleanup.policy": "delete", "retention.ms": str(kafka.deadletter_retention_ms)},
        ),
        # Latest status per area code: compaction keeps one record per key forever.
        spec(names.status, **{"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}),
        spec(
            names.alerts,
            **{"cleanup.policy": "delete", "retention.ms": str(kafka.alerts_retention_ms)},
        ),
        # Keyed like the topic the alert's state follows (see schemas.alert.command_key).
        spec(
            names.alert_commands,
            **{"cleanup.policy": "delete", "retention.ms": str(kafka.alerts_retention_ms)},
        ),
        # Current silences, one record per silence id; a tombstone deletes one.
        spec(names.silences, **{"cleanup.policy": "compact"}),
        # One record per notification attempt (the audit of who was told what, when).
        spec(
            names.deliveries,
            **{"cleanup.policy": "delete", "retention.ms": str(kafka.alerts_retention_ms)},
        ),
        # Who acknowledged, silenced or exported what (keyed by user); kept forever.
        spec(
            names.audit,
            **{"cleanup.policy": "delete", "retention.ms": str(kafka.audit_retention_ms)},
        ),
    ]


def plan_config_changes(
    wanted: Mapping[str, str], current: Mapping[str, str | None]
) -> dict[str, str]:
    """The settings that differ between what a topic has and what it should have."""
    return {key: value for key, value in wanted.items() if current.get(key) != value}


def ensure_topics(admin: Any, specs: list[TopicSpec]) -> list[TopicChange]:
    """Create missing topics and align the configs of existing ones; idempotent.

    Partitions are never reduced or silently increased: more partitions would move keys (areas)
    to other partitions, so a mismatch is reported for an operator to decide.
    """
    from kafka.admin import ConfigResource, ConfigResourceType

    existing = set(admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    changes: list[TopicChange] = []
    created = _create_topics(admin, missing)
    changes += [TopicChange(s.name, "created", f"{s.partitions} partitions") for s in created]

    # Topics another process created meanwhile (two workers starting at once) are aligned too.
    present = [s for s in specs if s.name in existing or (s in missing and s not in created)]
    if not present:
        return changes
    described_topics = admin.describe_topics([s.name for s in present])
    partitions = {t["name"]: len(t["partitions"]) for t in described_topics}
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, s.name, list(s.configs)) for s in present],
        config_filter="all",
    )
    topic_configs = described.get("topic", {})
    for s in present:
        current = {k: _config_value(v) for k, v in topic_configs.get(s.name, {}).items()}
        delta = plan_config_changes(s.configs, current)
        if delta:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, s.name, delta)])
            changes.append(
                TopicChange(s.name, "updated", ", ".join(f"{k}={v}" for k, v in delta.items()))
            )
        else:
            changes.append(TopicChange(s.name, "unchanged"))
        if partitions.get(s.name) != s.partitions:
            changes.append(
                TopicChange(
                    s.name,
                    "warning",
                    f"has {partitions.get(s.name)} partitions, settings ask for {s.partitions}; "
                    "not changed (would move areas between partitions)",
                )
            )
    return changes


def _create_topics(admin: Any, specs: list[TopicSpec]) -> list[TopicSpec]:
    """Create ``specs``; those another process creates at the same time are left out of the
    result instead of failing the caller."""
    from kafka.errors import TopicAlreadyExistsError

    def create(batch: list[TopicSpec]) -> None:
        admin.create_topics(
            {
                s.name: {
                    "num_partitions": s.partitions,
                    "replication_factor": s.replication_factor,
                    "configs": dict(s.configs),
                }
                for s in batch
            },
            timeout_ms=30_000,
            wait_for_metadata=True,
        )

    if not specs:
        return []
    try:
        create(specs)
        return list(specs)
    except TopicAlreadyExistsError:
        pass
    # Some were there first: the rest one at a time (Kafka handles the topics of one request
    # independently, so the others of the first attempt may exist by now too).
    created = []
    for spec in specs:
        if spec.name in set(admin.list_topics()):
            continue
        try:
            create([spec])
        except TopicAlreadyExistsError:
            continue
        created.append(spec)
    return created


def _config_value(entry: Mapping[str, Any]) -> str | None:
    value = entry.get("value")
    return None if value is None else str(value)


def group_lag(admin: Any, group_id: str, topic: str) -> int:
    """Records of ``topic`` the consumer group has not committed yet (all, if it never did).

    Faust and the indexer commit offsets only after their work is done, so a lag of 0 means
    everything written so far has been processed.
    """
    from kafka import TopicPartition
    from kafka.admin import OffsetSpec

    partitions = admin.describe_topics([topic])[0]["partitions"]
    specs = {TopicPartition(topic, p["partition_index"]): OffsetSpec.LATEST for p in partitions}
    ends = admin.list_partition_offsets(specs)
    committed = admin.list_group_offsets({group_id: list(specs)}).get(group_id, {})
    lag = 0
    for tp, end in ends.items():
        meta = committed.get(tp)
        done = meta.offset if meta is not None and meta.offset >= 0 else 0
        lag += max(0, end.offset - done)
    return lag


def drop_run(admin: Any, prefix: str) -> tuple[list[str], list[str]]:
    """Delete the consumer groups and topics whose names start with ``prefix``: everything a
    benchmark or chaos run named after its run id. Returns (groups, topics) deleted.

    Groups first, while no member is left (the run's processes have stopped); the broker
    deletes topics in the background, so they may still be listed for a moment.
    """
    groups = [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(prefix)]
    if groups:
        admin.delete_groups(groups)
    topics = [t for t in admin.list_topics() if t.startswith(prefix)]
    if topics:
        admin.delete_topics(topics, timeout_ms=30_000)
    return groups, topics
