"""The Content-Security-Policy and the other security headers in a real browser: every page
of the control room (login, board, feed, search, daily report) loads, runs its scripts and
styles and reaches its API under the policy, with no violation reported; a wrong password
several times over shows the server's rate-limit message on the login page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sinks.web.operators import OperatorRole
from sinks.web.users import add_user, new_user
from sitrep.http_security import PAGES_CSP
from sitrep.settings import Settings
from tests.sinks.web.conftest import WebServer

pytestmark = pytest.mark.integration

PASSWORD = "sandi-analis-csp"
# Records what the browser blocks, before any page script runs.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def context(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    opened = browser.new_context(viewport={"width": 1280, "height": 900}, locale="id-ID")
    opened.add_init_script(WATCH_VIOLATIONS)
    problems: list[str] = []

    def console(message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            problems.append(f"console {message.type}: {message.text}")

    opened.on("console", console)
    opened.on("weberror", lambda error: problems.append(f"error: {error.error}"))
    yield opened, problems
    opened.close()


def violations(page: Any) -> list[str]:
    return list(page.evaluate("window.__violations"))


def test_every_page_works_under_the_policy(
    web_settings: Settings, web_server: WebServer, context: tuple[Any, list[str]]
) -> None:
    add_user(
        web_settings.web.users_path(web_settings.home),
        new_user("Analis", OperatorRole.ANALYST, PASSWORD, datetime.now(UTC)),
    )
    headers = httpx.get(f"{web_server.url}/login").headers
    assert headers["content-security-policy"] == PAGES_CSP
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"

    browser_context, problems = context
    page = browser_context.new_page()
    page.goto(f"{web_server.url}/login?next=%2Fsearch")
    page.fill("#user", "Analis")
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url(f"{web_server.url}/search", timeout=10_000)
    # Each page's script ran (it filled something from the API) and its style applies.
    page.wait_for_selector("#regency option:nth-child(3)", state="attached", timeout=10_000)
    assert violations(page) == []
    for path, ready in (
        ("/", '.tile[data-area="64.71"]'),
        ("/feed", "#regency option:nth-child(3)"),
        ("/daily", "#date"),
    ):
        page.goto(f"{web_server.url}{path}")
        page.wait_for_selector(ready, state="attached", timeout=10_000)
        page.wait_for_timeout(500)
        assert violations(page) == [], path
        assert page.evaluate("getComputedStyle(document.body).margin") != "8px", path
    page.goto(f"{web_server.url}/")
    page.wait_for_selector('#connection[data-state="live"]', timeout=10_000)
    assert violations(page) == []
    assert problems == []


def test_the_login_page_shows_the_rate_limit(
    web_settings: Settings, web_server: WebServer, context: tuple[Any, list[str]]
) -> None:
    browser_context, _ = context
    page = browser_context.new_page()
    page.goto(f"{web_server.url}/login")
    limit = web_settings.web.login_failures_burst_per_user
    for attempt in range(limit + 1):
        page.fill("#user", "siapa-saja")
        page.fill("#password", f"tebakan-{attempt}")
        page.click("#submit")
        # An arrow function: a bare expression string would be polled with eval, which the
        # policy forbids (Playwright's wait_for_function).
        page.wait_for_function("() => document.querySelector('#message').textContent !== ''")
        if attempt < limit:
            assert page.inner_text("#message") == "Nama pengguna atau kata sandi salah."
            page.evaluate("document.querySelector('#message').textContent = ''")
    assert page.inner_text("#message").startswith("Terlalu banyak percobaan masuk yang gagal")
    assert violations(page) == []
