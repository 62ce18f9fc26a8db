"""Fixtures for the rule engine: rules from YAML text, reports, an engine over a dict store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from schemas.alert import Alert
from schemas.registry import AreaRegistry, default_registry
from schemas.report import FieldReport
from streams.rules.engine import MemoryRuleStore, RuleEngine
from streams.rules.model import RuleSet, parse_rules
from streams.rules.sites import Site, SiteKind, SiteSet

WITA = ZoneInfo("Asia/Makassar")
T0 = datetime(2024, 11, 27, 8, 0, tzinfo=WITA)
SITES = SiteSet(
    (
        Site(
            id="kpu-samarinda",
            name="KPU Samarinda",
            kind=SiteKind.KPU_OFFICE,
            lat=-0.4830,
            lon=117.1520,
        ),
        Site(
            id="rumah-a",
            name="Rumah Calon A",
            kind=SiteKind.CANDIDATE_RESIDENCE,
            lat=-1.2650,
            lon=116.8300,
            radius_m=300,
        ),
    )
)
EXPECTED = ["64.71", "64.71.01", "64.71.02", "64.72", "64.72.01"]
MESSAGES = {
    "id": "[{tier}] {rule_name} {area_name}: {value}",
    "en": "[{tier}] {area_name}: {value}",
}


@pytest.fixture(scope="session")
def registry() -> AreaRegistry:
    return default_registry()


def rule_set(text_or_rules: str | list[dict[str, Any]], registry: AreaRegistry) -> RuleSet:
    document = yaml.safe_load(text_or_rules) if isinstance(text_or_rules, str) else text_or_rules
    return parse_rules([("test.yaml", document)], registry)


def make_rule(rule_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"t-{rule_type}",
        "name": f"Uji {rule_type}",
        "type": rule_type,
        "messages": MESSAGES,
        **fields,
    }


def make_report(
    minutes: float,
    report_id: str,
    *,
    district: str = "64.71",
    subdistrict: str | None = "64.71.01",
    category: str = "clash",
    severity: int = 4,
    kind: str = "incident",
    text: str = "laporan uji",
    location: tuple[float, float] | None = None,
) -> FieldReport:
    occurred = T0 + timedelta(minutes=minutes)
    data: dict[str, Any] = {
        "report_id": report_id,
        "occurred_at": occurred.isoformat(),
        "received_at": (occurred + timedelta(seconds=30)).isoformat(),
        "district": district,
        "kind": kind,
        "category": category,
        "severity": severity,
        "reporter": {"unit": "Polsek Uji", "role": "polsek"},
        "source": "app",
        "phase": "voting",
        "text": text,
        "schema_version": 1,
    }
    if subdistrict:
        data["subdistrict"] = subdistrict
    if location:
        data["location"] = {"lat": location[0], "lon": location[1]}
    return FieldReport.model_validate(data)


@dataclass
class Harness:
    """Feeds an engine like the worker does: reports in offset order, ticks per minute."""

    engine: RuleEngine
    store: MemoryRuleStore = field(default_factory=MemoryRuleStore)
    offset: int = 0
    alerts: list[Alert] = field(default_factory=list)
    now: datetime | None = None

    def feed(self, *reports: FieldReport) -> list[Alert]:
        out = []
        for report in reports:
            self.now = report.occurred_at if self.now is None else max(self.now, report.occurred_at)
            out += self.engine.on_reports([(self.offset, report)], self.store, self.now)
            self.offset += 1
        self.alerts += out
        return out

    def feed_batch(self, *reports: FieldReport) -> list[Alert]:
        """One poll's worth of reports in one call, as the worker hands them over."""
        batch = [(self.offset + i, report) for i, report in enumerate(reports)]
        out = self.engine.on_reports(batch, self.store, self.now)
        self.offset += len(reports)
        for report in reports:
            self.now = report.occurred_at if self.now is None else max(self.now, report.occurred_at)
        self.alerts += out
        return out

    def tick(self, minutes: float) -> list[Alert]:
        self.now = T0 + timedelta(minutes=minutes)
        out = self.engine.on_tick(self.store, self.now, EXPECTED)
        self.alerts += out
        return out

    def tick_range(self, start: int, stop: int) -> list[Alert]:
        out: list[Alert] = []
        for minute in range(start, stop):
            out += self.tick(minute)
        return out


HarnessFactory = Callable[..., Harness]


@pytest.fixture
def harness(registry: AreaRegistry) -> HarnessFactory:
    def make(*rules: dict[str, Any]) -> Harness:
        return Harness(RuleEngine(rule_set(list(rules), registry), registry, SITES, WITA))

    return make
