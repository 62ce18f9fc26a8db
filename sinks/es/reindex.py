"""``sitrep es reindex``: rebuild indices with the current template, without losing writes.

For each index (``X`` or an earlier generation ``X-rN``):

1. block writes on it: the running indexer's writes fail with a block and are retried
   (its consumer pauses; nothing is lost);
2. create ``X-r<version>`` from the current template and copy every document into it, rebuilt
   from its wire fields (new derived fields, current stemmer), keeping external versions;
3. check the counts, then in one atomic alias change delete the old index and point ``X`` (and
   the read alias) at the new one. The indexer's next retry writes through the alias.

Works without server-side ``_reindex`` or scripts (scan + bulk from the client).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from elasticsearch import Elasticsearch, helpers

from schemas.alert import Alert
from schemas.registry import AreaRegistry
from schemas.report import REGISTRY_CONTEXT_KEY, FieldReport
from schemas.status import AreaStatus
from sinks.documents import alert_document, report_document, status_document, wire_report_fields
from sinks.es.names import Family, IndexNames, generation_name, strip_generation
from sinks.es.templates import TEMPLATE_VERSION, template_aliases
from sitrep.morphology import Stemmer

log = structlog.get_logger("sinks.es.reindex")

Rebuild = Callable[[dict[str, Any]], dict[str, Any]]


class ReindexError(RuntimeError):
    pass


@dataclass(frozen=True)
class ReindexPlan:
    source: str  # concrete index now
    target: str  # new generation
    written_name: str  # what writers use; becomes an alias of target
    family: Family

    @property
    def versioned(self) -> bool:
        return self.family in (Family.STATUS, Family.ALERTS)


def plan_for(index: str, family: Family) -> ReindexPlan:
    return ReindexPlan(
        source=index,
        target=generation_name(index, TEMPLATE_VERSION),
        written_name=strip_generation(index),
        family=family,
    )


def _indexed_at(document: dict[str, Any]) -> datetime:
    value = document.get("indexed_at")
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime.now(UTC)


def rebuilder(family: Family, registry: AreaRegistry, stemmer: Stemmer | None) -> Rebuild:
    """Document -> the same record's document as this release would index it."""

    def report(document: dict[str, Any]) -> dict[str, Any]:
        parsed = FieldReport.model_validate(
            wire_report_fields(document), context={REGISTRY_CONTEXT_KEY: registry}
        )
        return report_document(parsed, registry, _indexed_at(document), stemmer)

    def status(document: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in document.items() if k in AreaStatus.model_fields}
        return status_document(AreaStatus.model_validate(fields), _indexed_at(document))

    def alert(document: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in document.items() if k in Alert.model_fields}
        return alert_document(Alert.model_validate(fields), _indexed_at(document))

    if family is Family.REPORTS:
        return report
    if family is Family.ALERTS:
        return alert
    return status


def _copy_actions(
    es: Elasticsearch, plan: ReindexPlan, rebuild: Rebuild
) -> Iterator[dict[str, Any]]:
    for hit in helpers.scan(es, index=plan.source, version=plan.versioned, size=1000):
        action: dict[str, Any] = {
            "_op_type": "index",
            "_index": plan.target,
            "_id": hit["_id"],
            "_source": rebuild(hit["_source"]),
        }
        if plan.versioned:
            action["version"] = hit["_version"]
            action["version_type"] = "external"
        yield action


def reindex(
    es: Elasticsearch,
    plan: ReindexPlan,
    names: IndexNames,
    rebuild: Rebuild,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Run one plan; returns the number of documents copied. On failure the old index is
    writable again and the half-built new one is removed."""
    es.indices.add_block(index=plan.source, block="write")
    try:
        if es.indices.exists(index=plan.target):
            es.indices.delete(index=plan.target)
        es.indices.create(index=plan.target)
        for alias in template_aliases(names, plan.family):
            # Not readable until complete, or searches would see documents twice.
            es.indices.delete_alias(index=plan.target, name=alias)
        copied = 0
        for ok, item in helpers.streaming_bulk(
            es, _copy_actions(es, plan, rebuild), chunk_size=500, raise_on_error=False
        ):
            if not ok:
                raise ReindexError(f"copying into {plan.target} failed: {item}")
            copied += 1
            progress(1)
        es.indices.refresh(index=plan.target)
        before = es.count(index=plan.source)["count"]
        after = es.count(index=plan.target)["count"]
        if before != after:
            raise ReindexError(f"{plan.source} has {before} documents, {plan.target} {after}")
        actions: list[dict[str, Any]] = [
            {"remove_index": {"index": plan.source}},
            {"add": {"index": plan.target, "alias": plan.written_name, "is_write_index": True}},
        ]
        actions += [
            {"add": {"index": plan.target, "alias": alias}}
            for alias in template_aliases(names, plan.family)
        ]
        es.indices.update_aliases(actions=actions)
    except Exception:
        es.indices.put_settings(index=plan.source, settings={"index.blocks.write": None})
        if es.indices.exists(index=plan.target):
            es.indices.delete(index=plan.target)
        raise
    log.info("reindexed", source=plan.source, target=plan.target, documents=copied)
    return copied
