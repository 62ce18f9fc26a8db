"""``sitrep es prune``: delete whole monthly indices older than a retention age."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from sinks.es.names import Family, IndexNames

_AGE = re.compile(r"^\s*(\d+)\s*([dwy])\s*$")
_UNITS = {"d": 1, "w": 7, "y": 365}


def parse_age(text: str) -> timedelta:
    """``400d``, ``12w`` or ``2y`` (365 days each) -> timedelta; at least one day."""
    match = _AGE.match(text.lower())
    if match is None:
        raise ValueError(f"{text!r} is not an age like 400d, 12w or 2y")
    days = int(match[1]) * _UNITS[match[2]]
    if days < 1:
        raise ValueError("the age must be at least 1d")
    return timedelta(days=days)


def month_end(year: int, month: int) -> datetime:
    """First instant (UTC) after the month."""
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PruneCandidate:
    index: str
    family: Family
    month: str  # YYYY.MM
    newest_possible: datetime  # end of the month: nothing in the index is newer


def prunable(
    indices: Iterable[str], names: IndexNames, now: datetime, older_than: timedelta
) -> list[PruneCandidate]:
    """Monthly indices whose whole month lies before ``now - older_than`` (pure)."""
    cutoff = now - older_than
    found = []
    for index in sorted(indices):
        for family in (Family.REPORTS, Family.STATUS_HISTORY):
            month = names.month_of(family, index)
            if month is None:
                continue
            end = month_end(*month)
            if end <= cutoff:
                found.append(PruneCandidate(index, family, f"{month[0]:04d}.{month[1]:02d}", end))
    return found


def monthly_indices(es: Elasticsearch, names: IndexNames) -> list[str]:
    patterns = [p for f in (Family.REPORTS, Family.STATUS_HISTORY) for p in names.patterns(f)]
    found = es.indices.get(
        index=",".join(patterns), expand_wildcards="open,closed", allow_no_indices=True
    )
    return sorted(found)


def document_counts(es: Elasticsearch, indices: list[str]) -> dict[str, int]:
    if not indices:
        return {}
    response = es.cat.indices(index=",".join(indices), format="json", h="index,docs.count")
    rows: list[dict[str, Any]] = response.body  # type: ignore[assignment]  # format=json
    return {row["index"]: int(row.get("docs.count") or 0) for row in rows}


def delete_indices(es: Elasticsearch, indices: list[str]) -> None:
    for index in indices:
        es.indices.delete(index=index)
