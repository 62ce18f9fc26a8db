"""Every route of both HTTP services, enumerated from the apps themselves, against every kind
of caller: no credentials 401, too low a role 403, enough of a role neither.

The policy tables below are the contract. A route that is added without an entry here fails
``test_every_route_has_a_policy``; one that forgets its role check fails the caller checks.
Requests that get through the check may fail afterwards (no Elasticsearch or Kafka here, or a
deliberately empty body): only the authentication and role decision is under test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import pytest
from fastapi.testclient import TestClient

from sinks.web.operators import OperatorRole
from sinks.web.users import add_user, new_user
from tests.producers.conftest import report_document
from tests.security.conftest import NOW, IntakeApp, WebApp, bearer, concrete, route_table

PUBLIC: Final = "public"
TOKEN: Final = "token"  # the intake: any valid per-unit token

V, A, C, ADM = (
    OperatorRole.VIEWER,
    OperatorRole.ANALYST,
    OperatorRole.COMMANDER,
    OperatorRole.ADMIN,
)

# Web service: (method, path) -> the role it needs, or PUBLIC (health, and what a login needs).
WEB_POLICY: Final[dict[tuple[str, str], OperatorRole | str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/v1/login"): PUBLIC,
    ("POST", "/v1/logout"): PUBLIC,  # only clears this browser's cookie
    ("MOUNT", "/static"): PUBLIC,  # the login page's script and style
    ("GET", "/metrics"): V,
    ("GET", "/openapi.json"): V,
    ("GET", "/docs"): V,
    ("GET", "/"): V,
    ("GET", "/feed"): V,
    ("GET", "/pages/labels.json"): V,
    ("GET", "/v1/board"): V,
    ("GET", "/v1/board/trend"): V,
    ("GET", "/v1/live"): V,
    ("GET", "/v1/feed"): V,
    ("GET", "/v1/me"): V,
    ("GET", "/search"): A,
    ("GET", "/daily"): A,
    ("GET", "/v1/search"): A,
    ("GET", "/v1/search/export"): A,
    ("GET", "/v1/reports/{report_id}"): A,
    ("GET", "/v1/sitrep/daily"): A,
    ("GET", "/v1/alerts"): A,
    ("GET", "/v1/alerts/{alert_id}"): A,
    ("GET", "/v1/silences"): A,
    ("POST", "/v1/alerts/{alert_id}/ack"): C,
    ("POST", "/v1/silences"): C,
    ("DELETE", "/v1/silences/{silence_id}"): C,
    ("GET", "/v1/admin/operators"): ADM,
    ("POST", "/v1/admin/operators"): ADM,
    ("DELETE", "/v1/admin/operators/{token_id}"): ADM,
    ("GET", "/v1/admin/rules"): ADM,
    ("POST", "/v1/admin/rules/check"): ADM,
}
# Routes about the person calling: an anonymous caller is nobody, whatever its role.
PERSONAL: Final = {("GET", "/v1/me")}

INTAKE_POLICY: Final[dict[tuple[str, str], str]] = {
    ("POST", "/v1/reports"): TOKEN,
    ("GET", "/metrics"): TOKEN,
    ("GET", "/openapi.json"): TOKEN,
    ("GET", "/docs"): TOKEN,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
}

STATIC_PROBE: Final = "login.js"


def request(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    if method == "MOUNT":
        return client.get(f"{path}/{STATIC_PROBE}", headers=headers).status_code
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, concrete(path), json=body, headers=headers).status_code


def check(
    client: TestClient,
    routes: list[tuple[str, str]],
    headers: dict[str, str],
    expected: Callable[[tuple[str, str]], int | None],
) -> list[str]:
    """Mismatches as readable lines; ``expected`` gives 401/403, or None for "let through"."""
    wrong = []
    for route in routes:
        status = request(client, *route, headers)
        wanted = expected(route)
        if wanted is None and status in (401, 403):
            wrong.append(f"{route}: refused with {status}, should get through")
        elif wanted is not None and status != wanted:
            wrong.append(f"{route}: {status}, expected {wanted}")
    return wrong


# --- web ------------------------------------------------------------------------------------


def test_every_web_route_has_a_policy(web_factory: Callable[..., WebApp]) -> None:
    routes = set(route_table(web_factory().app))
    assert routes - set(WEB_POLICY) == set(), "routes without a policy entry: add them above"
    assert set(WEB_POLICY) - routes == set(), "policy entries of routes that are gone"


def test_without_credentials_only_public_routes_answer(
    web_factory: Callable[..., WebApp],
) -> None:
    web = web_factory(anonymous_role="none")
    client = TestClient(web.app, raise_server_exceptions=False)
    routes = route_table(web.app)
    wrong = check(client, routes, {}, lambda r: None if WEB_POLICY[r] == PUBLIC else 401)
    wrong += check(
        client,
        routes,
        bearer("sitrep_op_not-a-real-token"),
        lambda r: None if WEB_POLICY[r] == PUBLIC else 401,
    )
    assert wrong == []


@pytest.mark.parametrize("role", list(OperatorRole))
def test_each_role_reaches_exactly_the_routes_of_its_rank(
    web_factory: Callable[..., WebApp], role: OperatorRole
) -> None:
    web = web_factory(anonymous_role="none")
    client = TestClient(web.app, raise_server_exceptions=False)

    def expected(route: tuple[str, str]) -> int | None:
        needed = WEB_POLICY[route]
        if needed == PUBLIC or (isinstance(needed, OperatorRole) and role.includes(needed)):
            return None
        return 403

    assert check(client, route_table(web.app), bearer(web.tokens[role]), expected) == []


def test_a_session_counts_like_a_token(web_factory: Callable[..., WebApp]) -> None:
    web = web_factory(anonymous_role="none")
    account = new_user("Analis", OperatorRole.ANALYST, "kata-sandi-analis", NOW)
    add_user(web.settings.web.users_path(web.settings.home), account)
    client = TestClient(web.app, raise_server_exceptions=False)
    login = client.post("/v1/login", json={"user": "Analis", "password": "kata-sandi-analis"})
    assert login.status_code == 200, login.text

    def expected(route: tuple[str, str]) -> int | None:
        needed = WEB_POLICY[route]
        if needed == PUBLIC or (isinstance(needed, OperatorRole) and A.includes(needed)):
            return None
        return 403

    logout = ("POST", "/v1/logout")
    routes = [route for route in route_table(web.app) if route != logout]
    assert check(client, routes, {}, expected) == []
    assert client.post("/v1/logout").status_code == 204
    after = check(client, routes, {}, lambda r: None if WEB_POLICY[r] == PUBLIC else 401)
    assert after == []


@pytest.mark.parametrize("anonymous", ["viewer", "analyst", "commander"])
def test_anonymous_callers_get_the_configured_role_and_no_more(
    web_factory: Callable[..., WebApp], anonymous: str
) -> None:
    web = web_factory(anonymous_role=anonymous)
    client = TestClient(web.app, raise_server_exceptions=False)
    granted = OperatorRole(anonymous)

    def expected(route: tuple[str, str]) -> int | None:
        needed = WEB_POLICY[route]
        if needed == PUBLIC:
            return None
        if route in PERSONAL or not (isinstance(needed, OperatorRole) and granted.includes(needed)):
            return 401  # anonymous callers are asked to log in, never told "forbidden"
        return None

    assert check(client, route_table(web.app), {}, expected) == []


def test_a_browser_without_a_login_is_sent_to_the_login_page(
    web_factory: Callable[..., WebApp],
) -> None:
    web = web_factory(anonymous_role="none")
    client = TestClient(web.app, follow_redirects=False)
    for page in ("/", "/feed", "/search", "/daily", "/docs"):
        answer = client.get(page, headers={"Accept": "text/html"})
        assert answer.status_code == 303, page
        assert answer.headers["location"].startswith("/login?next=")
    assert client.get("/login").status_code == 200


# --- intake ---------------------------------------------------------------------------------


def test_every_intake_route_has_a_policy(intake: IntakeApp) -> None:
    routes = set(route_table(intake.app))
    assert routes - set(INTAKE_POLICY) == set(), "routes without a policy entry: add them above"
    assert set(INTAKE_POLICY) - routes == set(), "policy entries of routes that are gone"


def test_intake_routes_need_a_valid_token_except_health(intake: IntakeApp) -> None:
    client = TestClient(intake.app, raise_server_exceptions=False)
    routes = route_table(intake.app)
    public = {route for route, needs in INTAKE_POLICY.items() if needs == PUBLIC}
    assert check(client, routes, {}, lambda r: None if r in public else 401) == []
    # An unknown or revoked token is refused as such (403, docs/intake.md), never let through.
    unknown = bearer("sitrep_not-a-real-token")
    assert check(client, routes, unknown, lambda r: None if r in public else 403) == []
    valid = bearer(intake.tokens["balikpapan"])
    assert check(client, routes, valid, lambda r: None) == []


def test_an_intake_token_reports_only_for_its_regencies(intake: IntakeApp) -> None:
    client = TestClient(intake.app)
    samarinda = report_document(district="64.72", subdistrict=None)
    samarinda.pop("subdistrict")
    scoped = client.post("/v1/reports", json=samarinda, headers=bearer(intake.tokens["balikpapan"]))
    assert scoped.status_code == 403, scoped.text
    assert scoped.json()["error"] == "unauthorized_area"
    anywhere = client.post("/v1/reports", json=samarinda, headers=bearer(intake.tokens["anywhere"]))
    assert anywhere.status_code == 202, anywhere.text


def test_the_enumeration_sees_routes_added_later(base_settings: object, no_kafka: None) -> None:
    """The checks above would catch a new route: it shows up in the table, and without a role
    check it answers a caller without credentials."""
    from fastapi import APIRouter

    from sinks.web import create_app
    from tests.security.conftest import with_web

    extra = APIRouter()

    @extra.get("/v1/leak")
    def leak() -> dict[str, str]:
        return {"secret": "everything"}

    settings = with_web(base_settings, anonymous_role="none")  # type: ignore[arg-type]
    app = create_app(settings, routers=[extra])
    added = set(route_table(app)) - set(WEB_POLICY)
    assert added == {("GET", "/v1/leak")}
    client = TestClient(app, raise_server_exceptions=False)
    assert check(client, sorted(added), {}, lambda r: 401) == [
        "('GET', '/v1/leak'): 200, expected 401"
    ]
