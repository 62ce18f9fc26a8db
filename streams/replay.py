"""Preparing a replay: a clean state for the worker's app id and its start offsets at a time.

Kafka is the source of truth, so rebuilding status means: forget the worker's derived state
(consumer group, internal topics ``<app_id>-*``, local table files), then point the consumer
group at the first report received at or after the chosen time. Started afterwards, the worker
reads from there, rebuilds its tables and publishes the recomputed statuses.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from sitrep import clients
from sitrep.settings import Settings

__all__ = ["ReplayPlan", "WorkerStillRunning", "prepare_replay"]

log = structlog.get_logger("streams.replay")


class WorkerStillRunning(RuntimeError):
    """The consumer group has live members: a worker with this app id is still running."""


@dataclass(frozen=True)
class ReplayPlan:
    app_id: str
    deleted_topics: tuple[str, ...]
    deleted_dir: Path | None
    start_offsets: dict[int, int]  # partition -> first offset to read
    end_offsets: dict[int, int]

    @property
    def records(self) -> int:
        return sum(
            self.end_offsets[p] - self.start_offsets.get(p, self.end_offsets[p])
            for p in self.end_offsets
        )


def prepare_replay(settings: Settings, start: datetime | None, data_dir: Path) -> ReplayPlan:
    """Reset ``settings.worker.app_id`` and set its offsets to ``start`` (None: the beginning)."""
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    app_id = settings.worker.app_id
    topic = settings.kafka.topics.reports
    admin = clients.kafka_admin(settings)
    try:
        _require_idle_group(admin, app_id)
        internal = sorted(t for t in admin.list_topics() if t.startswith(f"{app_id}-"))
        if internal:
            admin.delete_topics(internal, timeout_ms=30_000)
        _delete_group(admin, app_id)
    finally:
        admin.close()
    deleted_dir = None
    if data_dir.exists():
        shutil.rmtree(data_dir)
        deleted_dir = data_dir

    consumer = clients.kafka_consumer(settings, group_id=app_id, client_id=f"{app_id}-replay")
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        end = consumer.end_offsets(tps)
        if start is None:
            offsets = consumer.beginning_offsets(tps)
        else:
            found = consumer.offsets_for_times({tp: int(start.timestamp() * 1000) for tp in tps})
            offsets = {tp: found[tp].offset if found.get(tp) else end[tp] for tp in tps}
        consumer.commit({tp: OffsetAndMetadata(offsets[tp], "", -1) for tp in tps})
    finally:
        consumer.close()
    plan = ReplayPlan(
        app_id,
        tuple(internal),
        deleted_dir,
        {tp.partition: offsets[tp] for tp in tps},
        {tp.partition: end[tp] for tp in tps},
    )
    log.info(
        "replay prepared",
        app_id=app_id,
        deleted_topics=len(internal),
        records=plan.records,
        start=start.isoformat() if start else "beginning",
    )
    return plan


def _require_idle_group(admin: Any, group: str) -> None:
    from kafka.errors import KafkaError

    try:
        described = admin.describe_groups([group])
    except KafkaError:  # group unknown to the broker: nothing runs
        return
    for description in described.values():
        members = description.get("members") or []
        if members:
            raise WorkerStillRunning(
                f"consumer group {group} has {len(members)} active member(s): stop the running "
                f"worker (sitrep worker) before replaying, or replay with another --app-id"
            )


def _delete_group(admin: Any, group: str) -> None:
    """Delete the consumer group (its committed offsets); a missing group is fine."""
    from kafka.errors import KafkaError

    try:
        results = admin.delete_groups([group])
    except KafkaError as exc:
        log.debug("consumer group not deleted", group=group, error=str(exc))
        return
    log.debug("consumer group deleted", group=group, result=str(results))
