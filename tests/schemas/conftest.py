"""Fixtures for the wire-contract tests. No services needed.

The tests import from the ``schemas.*`` modules, not the package root: with pytest's default
(prepend) import mode, the ``tests/`` folder lands on sys.path and ``tests/schemas`` can shadow
the ``schemas`` package itself, while its submodules still resolve.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.common import ValidationProblem, validation_problems
from schemas.registry import PACKAGED_DATA_DIR, AreaRegistry, default_registry
from schemas.report import FieldReport, parse_report


@pytest.fixture(scope="session")
def registry() -> AreaRegistry:
    return default_registry()


@pytest.fixture
def fresh_registry() -> AreaRegistry:
    """A registry of its own (villages not yet loaded), unlike the cached default."""
    return AreaRegistry.from_directory(PACKAGED_DATA_DIR)


@pytest.fixture
def report_data() -> dict[str, Any]:
    """A complete, valid report (Balikpapan); each test gets its own copy to modify."""
    return {
        "report_id": "polsek-bpptimur-20240214-0001",
        "occurred_at": "2024-02-14T09:30:00+08:00",
        "received_at": "2024-02-14T09:31:10+08:00",
        "district": "64.71",
        "subdistrict": "64.71.01",
        "village": "64.71.01.1001",
        "tps": "012",
        "location": {"lat": -1.2379, "lon": 116.8529},
        "kind": "incident",
        "category": "intimidation",
        "severity": 3,
        "reporter": {"unit": "Polsek Balikpapan Timur", "role": "bhabinkamtibmas"},
        "source": "app",
        "phase": "campaign",
        "text": "Sekelompok orang mengintimidasi pemilih di sekitar TPS 012.",
        "schema_version": 1,
    }


@pytest.fixture
def parse(registry: AreaRegistry) -> Callable[..., FieldReport]:
    """Parse a report dict through the JSON path, as intake and the stream do."""

    def _parse(data: dict[str, Any], reg: AreaRegistry | None = None) -> FieldReport:
        return parse_report(json.dumps(data), reg or registry)

    return _parse


@pytest.fixture
def problems(registry: AreaRegistry) -> Callable[..., list[ValidationProblem]]:
    """The validation problems of a report dict that must be rejected."""

    def _problems(data: dict[str, Any], reg: AreaRegistry | None = None) -> list[ValidationProblem]:
        with pytest.raises(ValidationError) as caught:
            parse_report(json.dumps(data), reg or registry)
        return validation_problems(caught.value)

    return _problems
