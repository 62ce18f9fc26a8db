"""Read the shipped saved objects (NDJSON) and rewrite them for another index prefix (pure).

The file is written for the default prefix ``sitrep``: data views read ``sitrep-reports``,
``sitrep-status``, ``sitrep-status-history`` and ``sitrep-alerts``, and every object id starts
with ``sitrep-``. For another prefix (a second operation sharing the cluster and Kibana) the data
views' index patterns, every id and every reference move to that prefix, and titles get the
prefix in brackets, so both operations' objects can live side by side in one Kibana space.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

DEFAULT_PREFIX = "sitrep"
DATA_VIEW = "index-pattern"


class SavedObjectsError(ValueError):
    """The NDJSON file is not a list of saved objects."""


def parse_ndjson(text: str, source: str = "saved objects") -> list[dict[str, Any]]:
    """One saved object per non-empty line; export summary lines (no ``type``) are dropped."""
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SavedObjectsError(f"{source}, line {number}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise SavedObjectsError(f"{source}, line {number}: not a JSON object")
        if "exportedCount" in item and "type" not in item:
            continue  # the summary line Kibana appends to an export
        for key in ("type", "id", "attributes"):
            if key not in item:
                raise SavedObjectsError(f"{source}, line {number}: no {key!r}")
        objects.append(item)
    return objects


def load(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SavedObjectsError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_ndjson(text, str(path))


def dumps(objects: list[dict[str, Any]]) -> bytes:
    """NDJSON as Kibana exports it: one compact object per line."""
    lines = (
        json.dumps(item, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        for item in objects
    )
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _moved(name: str, prefix: str) -> str:
    stem = DEFAULT_PREFIX + "-"
    return prefix + "-" + name[len(stem) :] if name.startswith(stem) else name


def with_prefix(objects: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The objects for index prefix ``prefix`` (unchanged copies for the default prefix)."""
    result = copy.deepcopy(objects)
    if prefix == DEFAULT_PREFIX:
        return result
    for item in result:
        item["id"] = _moved(item["id"], prefix)
        for reference in item.get("references", []):
            reference["id"] = _moved(reference["id"], prefix)
        attributes = item["attributes"]
        if item["type"] == DATA_VIEW:
            attributes["title"] = ",".join(
                _moved(pattern, prefix) for pattern in attributes["title"].split(",")
            )
            if "name" in attributes:
                attributes["name"] = f"{attributes['name']} [{prefix}]"
        elif "title" in attributes:
            attributes["title"] = f"{attributes['title']} [{prefix}]"
    return result


def data_view_patterns(objects: list[dict[str, Any]]) -> dict[str, str]:
    """Data view id -> its index pattern (``attributes.title``)."""
    return {
        item["id"]: item["attributes"]["title"] for item in objects if item["type"] == DATA_VIEW
    }
