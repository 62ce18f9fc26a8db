"""The analyst pages' routes and the labels they read (no stack needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from schemas.report import Category, OperationPhase, ReportKind
from schemas.status import StatusLevel
from sinks.web import pages
from sinks.web.auth import authenticator_from_settings, install_auth
from sinks.web.errors import install_error_handlers
from sitrep.settings import Settings


@pytest.fixture
def client(settings: Settings, tmp_path: Path) -> TestClient:
    """The pages' router alone, for an anonymous analyst."""
    web = settings.web.model_copy(update={"anonymous_role": "analyst"})
    app = FastAPI()
    app.state.settings = settings.model_copy(update={"home": tmp_path, "web": web})
    install_error_handlers(app)
    install_auth(app, authenticator_from_settings(app.state.settings))
    app.include_router(pages.router)
    return TestClient(app)


@pytest.mark.parametrize("path", ["/search", "/feed", "/daily"])
def test_pages_are_served_uncached_with_the_navigation(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    for link in ('href="/"', 'href="/feed"', 'href="/search"', 'href="/daily"'):
        assert link in response.text
    assert f'href="{path}" aria-current="page"' in response.text
    assert "http://" not in response.text and "https://" not in response.text  # nothing external


def test_labels_cover_every_code_in_both_languages(client: TestClient) -> None:
    labels = client.get("/pages/labels.json").json()
    for kind, enum in (("category", Category), ("kind", ReportKind), ("phase", OperationPhase)):
        assert set(labels[kind]) == {member.value for member in enum}
        assert all(set(names) == {"id", "en"} for names in labels[kind].values())
    assert labels["category"]["clash"] == {"id": "Bentrokan", "en": "Clash"}
    assert labels["severity"]["4"] == {"id": "4 Tinggi", "en": "4 High"}
    assert set(labels["level"]) == {level.value for level in StatusLevel}
    assert labels["level"]["AWAS"] == {"id": "AWAS", "en": "AWAS (warning)"}
