"""The scoring file: validated at start-up, and the pure functions over it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from schemas.registry import AreaRegistry
from schemas.report import Category, IncidentState
from schemas.status import StatusLevel
from streams.scoring import (
    ScoringConfig,
    ScoringConfigError,
    default_scoring_path,
    load_scoring_config,
)


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "scoring.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture
def document() -> dict[str, object]:
    loaded = yaml.safe_load(default_scoring_path().read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_packaged_file_is_valid_and_covers_every_category(registry: AreaRegistry) -> None:
    config = load_scoring_config(registry=registry)
    assert set(config.category_weights) == set(Category)
    assert config.windows.short_minutes == 60 and config.windows.long_minutes == 1440
    assert config.lateness_minutes == 360


def test_weight_is_severity_times_category_times_state(config: ScoringConfig) -> None:
    assert config.weight(Category.CLASH, 4, IncidentState.OPEN) == 8 * 2.5
    assert config.weight(Category.CLASH, 4, IncidentState.HANDLING) == 8 * 2.5 * 0.5
    assert config.weight(Category.CLASH, 4, IncidentState.RESOLVED) == 0


def test_decay_halves_per_half_life_and_stops_at_the_window(config: ScoringConfig) -> None:
    assert config.decay(0) == 1.0
    assert config.decay(180) == pytest.approx(0.5)
    assert config.decay(90) == pytest.approx(math.sqrt(0.5))
    assert config.decay(1439) > 0
    assert config.decay(1440) == 0.0
    assert config.decay(-5) == 1.0  # a report slightly ahead of the clock counts fully


@pytest.mark.parametrize(
    ("score", "regency", "district"),
    [
        (0, "AMAN", "AMAN"),
        (3.99, "AMAN", "AMAN"),
        (4, "AMAN", "WASPADA"),
        (8, "WASPADA", "WASPADA"),
        (12, "WASPADA", "SIAGA"),
        (24, "SIAGA", "SIAGA"),
        (30, "SIAGA", "AWAS"),
        (60, "AWAS", "AWAS"),
    ],
)
def test_level_thresholds_per_area_type(
    config: ScoringConfig, score: float, regency: str, district: str
) -> None:
    assert config.raw_level("regency", score) is StatusLevel(regency)
    assert config.raw_level("district", score) is StatusLevel(district)


def test_problems_are_named_by_their_path(tmp_path: Path, document: dict[str, object]) -> None:
    thresholds = document["thresholds"]
    assert isinstance(thresholds, dict)
    thresholds["regency"] = {"WASPADA": 10, "SIAGA": 5, "AWAS": 60}
    document["lateness_minutes"] = 0
    with pytest.raises(ScoringConfigError) as caught:
        load_scoring_config(write(tmp_path, document))
    message = str(caught.value)
    assert "thresholds.regency" in message and "WASPADA < SIAGA < AWAS" in message
    assert "lateness_minutes" in message


def test_every_category_and_severity_needs_a_weight(
    tmp_path: Path, document: dict[str, object]
) -> None:
    category_weights = document["category_weights"]
    severity_weights = document["severity_weights"]
    assert isinstance(category_weights, dict) and isinstance(severity_weights, dict)
    del category_weights["riot"]
    del severity_weights[5]
    with pytest.raises(ScoringConfigError) as caught:
        load_scoring_config(write(tmp_path, document))
    assert "category_weights lacks riot" in str(caught.value)
    assert "severity_weights lacks [5]" in str(caught.value)


def test_unknown_keys_and_categories_are_rejected(
    tmp_path: Path, document: dict[str, object]
) -> None:
    document["treshold"] = {}
    category_weights = document["category_weights"]
    assert isinstance(category_weights, dict)
    category_weights["war"] = 5
    with pytest.raises(ScoringConfigError) as caught:
        load_scoring_config(write(tmp_path, document))
    assert "treshold" in str(caught.value)
    assert "category_weights.war" in str(caught.value)


def test_resolved_may_not_count(tmp_path: Path, document: dict[str, object]) -> None:
    document["state_factors"] = {"open": 1, "handling": 0.5, "resolved": 0.2}
    with pytest.raises(ScoringConfigError, match="resolved must be 0"):
        load_scoring_config(write(tmp_path, document))


def test_baseline_risk_must_name_registry_areas(
    tmp_path: Path, document: dict[str, object], registry: AreaRegistry
) -> None:
    document["baseline_risk"] = {"64.72": 3, "64.99": 1, "64": 2}
    with pytest.raises(ScoringConfigError) as caught:
        load_scoring_config(write(tmp_path, document), registry)
    assert "'64.99'" in str(caught.value) and "'64'" in str(caught.value)
    assert "'64.72'" not in str(caught.value)


def test_unreadable_or_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ScoringConfigError, match="cannot read"):
        load_scoring_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2", encoding="utf-8")
    with pytest.raises(ScoringConfigError, match="not valid YAML"):
        load_scoring_config(bad)
    bad.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ScoringConfigError, match="mapping"):
        load_scoring_config(bad)
