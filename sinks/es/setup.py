"""``sitrep es setup``: put the templates and the single indices in place (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from sinks.es.names import Family, IndexNames
from sinks.es.templates import (
    TEMPLATE_VERSION,
    component_template,
    index_template,
)
from sinks.settings import IndexerSettings

log = structlog.get_logger("sinks.es.setup")


class NewerTemplateError(RuntimeError):
    """The cluster holds templates from a newer release; this one must not downgrade them."""


@dataclass(frozen=True)
class TemplateChange:
    name: str
    action: str  # created | updated | unchanged
    previous_version: int | None


@dataclass(frozen=True)
class OutdatedIndex:
    index: str
    family: Family
    version: int | None


@dataclass(frozen=True)
class SetupResult:
    templates: tuple[TemplateChange, ...]
    created_indices: tuple[str, ...]
    outdated: tuple[OutdatedIndex, ...]


def decide_template_action(existing_version: int | None, exists: bool) -> str:
    """created / updated / unchanged; raises for a template newer than this code."""
    if not exists:
        return "created"
    if existing_version is not None and existing_version > TEMPLATE_VERSION:
        raise NewerTemplateError(
            f"the cluster has template version {existing_version}, this release knows "
            f"{TEMPLATE_VERSION}: upgrade sitrep instead of downgrading the templates"
        )
    return "unchanged" if existing_version == TEMPLATE_VERSION else "updated"


def _existing_component_version(es: Elasticsearch, name: str) -> tuple[bool, int | None]:
    try:
        found = es.cluster.get_component_template(name=name)
    except NotFoundError:
        return False, None
    templates = found.get("component_templates", [])
    if not templates:
        return False, None
    return True, templates[0]["component_template"].get("version")


def _existing_index_template_version(es: Elasticsearch, name: str) -> tuple[bool, int | None]:
    try:
        found = es.indices.get_index_template(name=name)
    except NotFoundError:
        return False, None
    templates = found.get("index_templates", [])
    if not templates:
        return False, None
    return True, templates[0]["index_template"].get("version")


def ensure_templates(es: Elasticsearch, settings: IndexerSettings) -> list[TemplateChange]:
    """Create or update the component and index templates. Unchanged ones are left alone,
    except that the component template is always rewritten so a changed replica count or
    refresh interval applies to new indices."""
    names = IndexNames(settings.index_prefix)
    changes: list[TemplateChange] = []

    exists, version = _existing_component_version(es, names.component_template)
    action = decide_template_action(version, exists)
    es.cluster.put_component_template(name=names.component_template, **component_template(settings))
    changes.append(TemplateChange(names.component_template, action, version))

    for family in Family:
        name = names.template_name(family)
        exists, version = _existing_index_template_version(es, name)
        action = decide_template_action(version, exists)
        if action != "unchanged":
            es.indices.put_index_template(name=name, **index_template(names, family))
        changes.append(TemplateChange(name, action, version))
    return changes


def drop_everything(es: Elasticsearch, prefix: str) -> None:
    """Delete every index and template of ``prefix``: for throwaway runs (chaos, tests),
    never for a prefix that holds data someone needs."""
    names = IndexNames(prefix)
    es.options(ignore_status=404).indices.delete(index=f"{prefix}-*", expand_wildcards="all")
    for family in Family:
        es.options(ignore_status=404).indices.delete_index_template(
            name=names.template_name(family)
        )
    es.options(ignore_status=404).cluster.delete_component_template(name=names.component_template)


def ensure_single_indices(es: Elasticsearch, names: IndexNames) -> list[str]:
    """The status and alert indices exist from the start, so readers never find them missing."""
    created = []
    for family in (Family.STATUS, Family.ALERTS):
        name = names.base(family)
        if es.indices.exists(index=name):
            continue
        try:
            es.indices.create(index=name)
            created.append(name)
        except BadRequestError as exc:  # a concurrent setup may have created it first
            if exc.error != "resource_already_exists_exception":
                raise
    return created


def index_template_version(mapping: dict[str, Any]) -> int | None:
    meta = mapping.get("mappings", {}).get("_meta", {})
    version = meta.get("template_version")
    return version if isinstance(version, int) else None


def find_outdated(es: Elasticsearch, names: IndexNames) -> list[OutdatedIndex]:
    """Concrete indices created from an older template version than this release's."""
    outdated = []
    for family in Family:
        patterns = ",".join(names.patterns(family))
        found = es.indices.get_mapping(
            index=patterns, allow_no_indices=True, ignore_unavailable=True
        )
        for index, mapping in sorted(found.items()):
            version = index_template_version(mapping)
            if version is None or version < TEMPLATE_VERSION:
                outdated.append(OutdatedIndex(index, family, version))
    return outdated


def setup(es: Elasticsearch, settings: IndexerSettings) -> SetupResult:
    names = IndexNames(settings.index_prefix)
    templates = ensure_templates(es, settings)
    created = ensure_single_indices(es, names)
    outdated = find_outdated(es, names)
    log.info(
        "elasticsearch set up",
        templates={t.name: t.action for t in templates},
        created=created,
        outdated=[o.index for o in outdated],
    )
    return SetupResult(tuple(templates), tuple(created), tuple(outdated))
