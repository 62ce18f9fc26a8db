"""Index and alias names, all derived from one prefix (default ``sitrep``).

* reports: written to ``sitrep-reports-YYYY.MM`` (UTC month of ``occurred_at``), read through
  the alias ``sitrep-reports``;
* current status: ``sitrep-status`` (``_id`` = area code);
* status history: ``sitrep-status-history-YYYY.MM`` (UTC month of ``updated_at``), alias
  ``sitrep-status-history``;
* alerts: ``sitrep-alerts`` (``_id`` = alert id).

After ``sitrep es reindex`` a written-to name becomes an alias of its new generation
``<name>-r<template version>``, so writers keep using the same names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class Family(StrEnum):
    """The four kinds of index the indexer keeps."""

    REPORTS = "reports"
    STATUS = "status"
    STATUS_HISTORY = "status-history"
    ALERTS = "alerts"

    @property
    def monthly(self) -> bool:
        return self in (Family.REPORTS, Family.STATUS_HISTORY)


_GENERATION = r"-r\d+(?:\.\d+)?"
_MONTH_SUFFIX = re.compile(r"-(?P<year>\d{4})\.(?P<month>\d{2})(?:" + _GENERATION + ")?$")


@dataclass(frozen=True)
class IndexNames:
    prefix: str = "sitrep"

    def base(self, family: Family) -> str:
        """Alias (monthly families) or index (single-index families) that readers use."""
        return f"{self.prefix}-{family.value}"

    @property
    def reports(self) -> str:
        return self.base(Family.REPORTS)

    @property
    def status(self) -> str:
        return self.base(Family.STATUS)

    @property
    def status_history(self) -> str:
        return self.base(Family.STATUS_HISTORY)

    @property
    def alerts(self) -> str:
        return self.base(Family.ALERTS)

    def monthly(self, family: Family, at: datetime) -> str:
        """The monthly index a record with this time belongs to (UTC month)."""
        utc = at.astimezone(UTC)
        return f"{self.prefix}-{family.value}-{utc.year:04d}.{utc.month:02d}"

    def report_index(self, occurred_at: datetime) -> str:
        return self.monthly(Family.REPORTS, occurred_at)

    def status_history_index(self, updated_at: datetime) -> str:
        return self.monthly(Family.STATUS_HISTORY, updated_at)

    def patterns(self, family: Family) -> list[str]:
        """Index patterns of the family's template (every generation included)."""
        base = self.base(family)
        if family.monthly:
            return [f"{base}-*"]
        return [base, f"{base}-r*"]

    def template_name(self, family: Family) -> str:
        return self.base(family)

    @property
    def component_template(self) -> str:
        return f"{self.prefix}-settings"

    def month_of(self, family: Family, index: str) -> tuple[int, int] | None:
        """(year, month) of a monthly index of this family, or None if it is not one."""
        if not family.monthly or not index.startswith(self.base(family) + "-"):
            return None
        match = _MONTH_SUFFIX.search(index)
        if match is None or match.start() != len(self.base(family)):
            return None
        return int(match["year"]), int(match["month"])


def generation_name(current_index: str, version: int) -> str:
    """Name of the next generation of an index, rebuilt with template ``version``:
    ``X`` -> ``X-r2``; ``X-r2`` rebuilt again with version 2 -> ``X-r2.1`` -> ``X-r2.2``."""
    written = strip_generation(current_index)
    match = re.search(r"-r(\d+)(?:\.(\d+))?$", current_index)
    if match is None or int(match[1]) != version:
        return f"{written}-r{version}"
    return f"{written}-r{version}.{int(match[2] or 0) + 1}"


def strip_generation(index: str) -> str:
    """``sitrep-reports-2024.02-r3`` -> ``sitrep-reports-2024.02`` (the name writers use)."""
    return re.sub(_GENERATION + "$", "", index)
