"""Rule and site files: validation with messages that name file, rule and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.registry import AreaRegistry
from sitrep.morphology import default_stemmer
from streams.rules.matching import ReportText, TermMatcher
from streams.rules.model import RulesError, load_rules
from streams.rules.sites import default_rules_dir, default_sites_dir, haversine_m, load_sites
from tests.streams.rules.conftest import make_rule, rule_set


def test_shipped_rules_and_sites_load(registry: AreaRegistry) -> None:
    rules = load_rules(default_rules_dir(), registry)
    assert {rule.type for rule in rules} == {
        "level",
        "frequency",
        "spike",
        "flatline",
        "keyword",
        "proximity",
    }
    channels = {r.channel for rule in rules for _, t in rule.tiers.items() for r in t.routes}
    assert channels == {"posko-webhook", "telegram-pimpinan", "email-kabag-ops", "log"}
    assert all(rule.scope.areas == ("64",) for rule in rules)
    assert len(load_sites(default_sites_dir())) >= 5


def test_every_problem_is_listed_with_file_rule_and_field(registry: AreaRegistry) -> None:
    bad = [
        make_rule("frequency", params={"window": "ten minutes"}, tiers={"warning": {"count": 3}}),
        {
            **make_rule("keyword", params={"terms": ["bom"]}, tiers={"warning": {}}),
            "messages": {"id": "{areaname}", "en": "ok"},
        },
        make_rule("spike", tiers={}),
        {
            **make_rule("level", tiers={"warning": {"level": "SIAGA"}}),
            "id": "t-level",
            "scope": {"areas": ["99"]},
        },
        make_rule("nonsense"),
        {**make_rule("flatline", params={"window": "1h"}, tiers={"warning": {}}), "colour": "red"},
        make_rule(
            "frequency",
            params={"window": "1h"},
            tiers={"warning": {"count": 5}, "critical": {"count": 2}},
        ),
    ]
    with pytest.raises(RulesError) as caught:
        rule_set(bad, registry)
    text = str(caught.value)
    assert "test.yaml: t-frequency: params.window: Value error" not in text
    assert "test.yaml: t-frequency: params.window: 'ten minutes' is not a duration" in text
    assert "test.yaml: t-keyword: messages.id: unknown placeholder {areaname}" in text
    assert "test.yaml: t-spike: tiers: give at least one tier" in text
    assert "test.yaml: t-level: scope.areas.0: unknown area code '99'" in text
    assert "test.yaml: t-nonsense: (rule):" in text or "t-nonsense: type" in text
    assert "test.yaml: t-flatline: colour: Extra inputs are not permitted" in text
    assert "critical.count must be at least warning.count" in text
    assert len(caught.value.problems) == 7


def test_duplicate_ids_and_bad_yaml(tmp_path: Path, registry: AreaRegistry) -> None:
    rule = "- id: a\n  name: A\n  type: frequency\n  params: {window: 1h}\n"
    rule += "  tiers: {warning: {count: 1}}\n  messages: {id: x, en: y}\n"
    (tmp_path / "one.yaml").write_text(rule)
    (tmp_path / "two.yaml").write_text(rule)
    (tmp_path / "three.yaml").write_text("- id: [unclosed\n")
    with pytest.raises(RulesError) as caught:
        load_rules(tmp_path, registry)
    problems = caught.value.problems
    assert any(p.startswith("three.yaml: (file): cannot read") for p in problems)
    assert "two.yaml: a: id: duplicate rule id (also in one.yaml)" in problems


def test_bad_sites(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "sites:\n  - {id: a, name: A, kind: palace, lat: 0, lon: 0}\n"
        "  - {id: b, name: B, kind: kpu_office, lat: 95, lon: 0}\n"
    )
    with pytest.raises(RulesError) as caught:
        load_sites(tmp_path)
    assert caught.value.problems[0].startswith("s.yaml: a: kind: Input should be")
    assert caught.value.problems[1].startswith("s.yaml: b: lat:")


@pytest.mark.parametrize(
    ("text", "term", "found"),
    [
        ("Terjadi bentrokan di pasar", "bentrok", True),
        ("Massa membakar ban", "bakar", True),
        ("Posko dibakar", "bakar", True),
        ("membawa senjata tajam", "senjata tajam", True),
        ("senjata api dan benda tajam", "senjata tajam", False),
        ("situasi aman", "bom", False),
    ],
)
def test_terms_match_word_forms_and_phrases(text: str, term: str, found: bool) -> None:
    matcher = TermMatcher.of([term], default_stemmer())
    assert bool(matcher.found(ReportText.of(text, default_stemmer()))) is found


def test_haversine() -> None:
    assert haversine_m(-0.4830, 117.1520, -0.4880, 117.1520) == pytest.approx(556, abs=1)
