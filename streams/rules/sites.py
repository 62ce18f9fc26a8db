"""Protected sites for proximity rules (``rules/sites/*.yaml``) and great-circle distance."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.common import Identifier

__all__ = [
    "Site",
    "SiteKind",
    "SiteSet",
    "default_rules_dir",
    "default_sites_dir",
    "haversine_m",
    "load_sites",
]

EARTH_RADIUS_M: Final = 6_371_008.8  # mean Earth radius (IUGG)


class SiteKind(StrEnum):
    CANDIDATE_RESIDENCE = "candidate_residence"
    CAMPAIGN_VENUE = "campaign_venue"
    KPU_OFFICE = "kpu_office"
    BAWASLU_OFFICE = "bawaslu_office"
    LOGISTICS_WAREHOUSE = "logistics_warehouse"
    OTHER = "other"


class Site(BaseModel):
    """One protected place: a candidate's house, a campaign venue, an election office…"""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: SiteKind
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    radius_m: Annotated[float, Field(gt=0, le=50_000)] | None = Field(
        default=None, description="overrides the rule's radius for this site"
    )


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class SiteSet:
    sites: tuple[Site, ...] = ()

    def __iter__(self) -> Iterator[Site]:
        return iter(self.sites)

    def __len__(self) -> int:
        return len(self.sites)

    def get(self, site_id: str) -> Site | None:
        return next((site for site in self.sites if site.id == site_id), None)

    def of_kinds(self, kinds: Iterable[SiteKind]) -> tuple[Site, ...]:
        wanted = frozenset(kinds)
        return tuple(site for site in self.sites if not wanted or site.kind in wanted)


def default_rules_dir() -> Path:
    """``rules/`` at the repository root (found from the package, also when installed editable)."""
    return Path(__file__).resolve().parents[2] / "rules"


def default_sites_dir() -> Path:
    return default_rules_dir() / "sites"


def load_sites(folder: Path | None = None) -> SiteSet:
    """Every ``*.yaml`` in ``folder`` (None: the packaged ``rules/sites/``): a list of sites,
    or a mapping with ``sites:``. A folder that does not exist is an empty set.

    Raises ``RulesError`` listing every problem.
    """
    from streams.rules.model import RulesError, format_pydantic_problems

    folder = folder or default_sites_dir()
    if not folder.is_dir():
        return SiteSet()
    problems: list[str] = []
    sites: list[Site] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{path.name}: cannot read: {exc}")
            continue
        entries = document.get("sites") if isinstance(document, Mapping) else document
        if not isinstance(entries, list):
            problems.append(f"{path.name}: expected a list of sites (or 'sites:' with a list)")
            continue
        for index, entry in enumerate(entries):
            label = str(entry.get("id", f"#{index + 1}")) if isinstance(entry, Mapping) else "?"
            try:
                site = Site.model_validate(entry)
            except ValidationError as exc:
                problems.extend(format_pydantic_problems(path.name, label, exc))
                continue
            if site.id in seen:
                problems.append(f"{path.name}: {site.id}: id: also defined in {seen[site.id]}")
                continue
            seen[site.id] = path.name
            sites.append(site)
    if problems:
        raise RulesError(problems)
    return SiteSet(tuple(sites))
