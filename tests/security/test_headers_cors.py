"""Security headers on every response of the web service (and the intake), and CORS closed
unless origins are configured."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sitrep.http_security import API_CSP, DOCS_CSP, PAGES_CSP, security_headers
from tests.security.conftest import WebApp, bearer, build_intake

FOREIGN = "https://evil.example"
TRUSTED = "https://dashboard.polda.example"


def test_the_header_policy_per_path() -> None:
    headers = security_headers("/search", csp=PAGES_CSP)
    assert headers["Content-Security-Policy"] == PAGES_CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in headers
    assert security_headers("/docs", csp=PAGES_CSP)["Content-Security-Policy"] == DOCS_CSP
    hsts = security_headers("/", csp=PAGES_CSP, hsts_max_age_s=31_536_000)
    assert hsts["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_the_pages_policy_allows_this_origin_only_and_no_inline_code() -> None:
    directives = dict(part.strip().split(" ", 1) for part in PAGES_CSP.split(";"))
    assert directives["default-src"] == "'self'"
    for source in ("script-src", "style-src", "connect-src"):
        assert directives[source] == "'self'", source
    assert directives["img-src"] == "'self' data:"  # the empty data:, icon of the pages
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in PAGES_CSP and "http" not in PAGES_CSP and "*" not in PAGES_CSP


def test_the_static_pages_have_no_inline_script_or_style() -> None:
    """What the policy would block: inline <script>/<style>, style= and on*= attributes."""
    static = Path(__file__).resolve().parents[2] / "sinks" / "web" / "static"
    for page in static.glob("*.html"):
        html = page.read_text()
        assert "<style" not in html, page.name
        assert " style=" not in html, page.name
        assert " onclick=" not in html and " onload=" not in html, page.name
        for tag in html.split("<script")[1:]:
            assert 'src="/static/' in tag.split(">", 1)[0], page.name
    for script in static.glob("*.js"):
        code = script.read_text()
        assert 'setAttribute("style"' not in code and "eval(" not in code, script.name


@pytest.mark.parametrize("path", ["/", "/login", "/static/board.js", "/v1/board", "/healthz"])
def test_every_web_response_carries_the_headers(
    web_factory: Callable[..., WebApp], path: str
) -> None:
    web = web_factory(anonymous_role="none")
    answer = TestClient(web.app, raise_server_exceptions=False).get(path)
    assert answer.headers["content-security-policy"] == PAGES_CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in answer.headers


def test_hsts_only_when_configured(web_factory: Callable[..., WebApp]) -> None:
    web = web_factory(hsts_max_age_s=86_400)
    answer = TestClient(web.app).get("/login")
    assert answer.headers["strict-transport-security"] == "max-age=86400; includeSubDomains"


def test_swagger_ui_gets_its_own_policy(web_factory: Callable[..., WebApp]) -> None:
    web = web_factory()
    answer = TestClient(web.app).get("/docs")  # an anonymous viewer by default
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == DOCS_CSP
    assert "/openapi.json" in answer.text


def test_cors_is_closed_by_default(web_factory: Callable[..., WebApp]) -> None:
    web = web_factory()
    client = TestClient(web.app)
    simple = client.get("/v1/me", headers={"Origin": FOREIGN, **bearer(web.tokens_any())})
    assert "access-control-allow-origin" not in simple.headers
    preflight = client.options(
        "/v1/alerts/x-1/ack",
        headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code in (401, 405)


def test_cors_answers_configured_origins_only(web_factory: Callable[..., WebApp]) -> None:
    web = web_factory(cors_origins=(TRUSTED,))
    client = TestClient(web.app)
    preflight = client.options(
        "/v1/search",
        headers={
            "Origin": TRUSTED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == TRUSTED
    assert "access-control-allow-credentials" not in preflight.headers
    token = bearer(web.tokens_any())
    assert (
        client.get("/v1/me", headers={"Origin": TRUSTED, **token}).headers[
            "access-control-allow-origin"
        ]
        == TRUSTED
    )
    foreign = client.get("/v1/me", headers={"Origin": FOREIGN, **token})
    assert "access-control-allow-origin" not in foreign.headers


def test_cors_origins_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sitrep.settings import load_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SITREP_WEB__CORS_ORIGINS", f'["{TRUSTED}"]')
    monkeypatch.setenv("SITREP_INTAKE__CORS_ORIGINS", "[]")
    monkeypatch.setenv("SITREP_WEB__HSTS_MAX_AGE_S", "600")
    settings = load_settings()
    assert settings.web.cors_origins == (TRUSTED,)
    assert settings.intake.cors_origins == ()
    assert settings.web.hsts_max_age_s == 600


def test_the_intake_is_closed_to_browsers_and_sends_api_headers(tmp_path: Path) -> None:
    with build_intake(tmp_path / "closed") as intake:
        client = TestClient(intake.app)
        preflight = client.options(
            "/v1/reports", headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in preflight.headers
        health = client.get("/healthz", headers={"Origin": FOREIGN})
        assert "access-control-allow-origin" not in health.headers
        assert health.headers["content-security-policy"] == API_CSP
        assert health.headers["x-content-type-options"] == "nosniff"
    with build_intake(tmp_path / "open", cors_origins=(TRUSTED,)) as intake:
        preflight = TestClient(intake.app).options(
            "/v1/reports", headers={"Origin": TRUSTED, "Access-Control-Request-Method": "POST"}
        )
        assert preflight.headers["access-control-allow-origin"] == TRUSTED
