"""Roles and logins in the web service against the real stack: which role reaches which route,
logging in and out, the reverse-proxy header, and the audit records of an export and an ack.

Everything has topics, indices and a home of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from fastapi import FastAPI
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from schemas.alert import AlertAck, AlertState
from schemas.audit import AuditAction, AuditRecord
from sinks.documents import alert_action, report_action
from sinks.es.names import IndexNames
from sinks.es.setup import setup
from sinks.web import create_app
from sinks.web.operators import OperatorRole, add_operator, new_operator_grant
from sinks.web.sessions import SESSION_COOKIE
from sinks.web.users import add_user, new_user
from sitrep import clients
from sitrep.settings import Settings, TopicNames
from sitrep.topics import desired_topics, ensure_topics
from tests.sinks.alert_records import alert, read_all
from tests.sinks.conftest import build_report

pytestmark = pytest.mark.integration

NOW = datetime(2024, 11, 27, 2, 0, tzinfo=UTC)
PASSWORD = "pemilu-aman-2024"
USERS = {
    OperatorRole.VIEWER: "Pemantau",
    OperatorRole.ANALYST: "Analis",
    OperatorRole.COMMANDER: "Komandan",
    OperatorRole.ADMIN: "Admin",
}
ANALYST_TOKEN_NAME = "Skrip Analis"


@dataclass(frozen=True)
class Env:
    settings: Settings
    es: Elasticsearch
    app: FastAPI
    analyst_token: str


def isolated_settings(local_stack: Settings, home: Any) -> Settings:
    tag = f"itauth{uuid.uuid4().hex[:8]}"
    topics = TopicNames(**{role: f"{tag}.{role}" for role, _ in local_stack.kafka.topics})
    return local_stack.model_copy(
        update={
            "home": home,
            "kafka": local_stack.kafka.model_copy(update={"topics": topics}),
            "indexer": local_stack.indexer.model_copy(update={"index_prefix": tag}),
        }
    )


def with_web(settings: Settings, **web: Any) -> Settings:
    return settings.model_copy(update={"web": settings.web.model_copy(update=web)})


@pytest.fixture(scope="module")
def env(local_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    settings = isolated_settings(local_stack, tmp_path_factory.mktemp("auth-home"))
    admin = clients.kafka_admin(settings)
    ensure_topics(admin, desired_topics(settings.kafka))
    es = clients.elasticsearch(settings)
    setup(es, settings.indexer)
    names = IndexNames(settings.indexer.index_prefix)
    firing = alert_action(alert(AlertState.FIRING), names, NOW)
    es.index(index=firing.index, id=firing.doc_id, document=json.loads(firing.document))
    from schemas.registry import default_registry

    registry = default_registry()
    for n in range(3):
        report = build_report(registry, report_id=f"auth-{n}", text="Bentrokan di pasar.")
        action = report_action(report, names, registry, NOW)
        es.index(index=action.index, id=action.doc_id, document=action.source)
    es.indices.refresh(index=f"{names.prefix}-*")
    users = settings.web.users_path(settings.home)
    for role, name in USERS.items():
        add_user(users, new_user(name, role, PASSWORD, NOW))
    token, grant = new_operator_grant(ANALYST_TOKEN_NAME, (OperatorRole.ANALYST,), NOW)
    add_operator(settings.web.tokens_path(settings.home), grant)
    app = create_app(settings, es=es)
    with TestClient(app):
        yield Env(settings, es, app, token)
    admin.delete_topics([name for _, name in settings.kafka.topics])
    admin.close()
    tag = settings.indexer.index_prefix
    es.indices.delete(index=f"{tag}-*")
    for family in ("reports", "status", "status-history", "alerts"):
        es.indices.delete_index_template(name=f"{tag}-{family}")
    es.cluster.delete_component_template(name=f"{tag}-settings")
    es.close()


def logged_in(app: FastAPI, user: str) -> TestClient:
    """A client of the running app (its lifespan is the module's) with a session of ``user``."""
    client = TestClient(app)
    answer = client.post("/v1/login", json={"user": user, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return client


@pytest.fixture(scope="module")
def callers(env: Env) -> dict[str, TestClient]:
    """One client per kind of caller: anonymous, and a login per role."""
    return {
        "anonymous": TestClient(env.app),
        **{role.value: logged_in(env.app, name) for role, name in USERS.items()},
    }


# (method, path, body, role it needs). Requests that pass the check fail harmlessly afterwards
# where they would change something (unknown alert, invalid silence, unknown export format).
ROUTES = [
    ("GET", "/", None, OperatorRole.VIEWER),
    ("GET", "/feed", None, OperatorRole.VIEWER),
    ("GET", "/v1/board", None, OperatorRole.VIEWER),
    ("GET", "/v1/board/trend", None, OperatorRole.VIEWER),
    ("GET", "/v1/feed?regency=64.71", None, OperatorRole.VIEWER),
    ("GET", "/search", None, OperatorRole.ANALYST),
    ("GET", "/daily", None, OperatorRole.ANALYST),
    ("GET", "/v1/search?q=bentrok", None, OperatorRole.ANALYST),
    ("GET", "/v1/search/export?format=docx", None, OperatorRole.ANALYST),
    ("GET", "/v1/reports/auth-0", None, OperatorRole.ANALYST),
    ("GET", "/v1/sitrep/daily?date=2024-11-27", None, OperatorRole.ANALYST),
    ("GET", "/v1/alerts", None, OperatorRole.ANALYST),
    ("GET", f"/v1/alerts/{alert(AlertState.FIRING).alert_id}", None, OperatorRole.ANALYST),
    ("GET", "/v1/silences", None, OperatorRole.ANALYST),
    ("POST", "/v1/alerts/alert-unknown-1/ack", {}, OperatorRole.COMMANDER),
    ("POST", "/v1/silences", {"rule_id": "bentrok-beruntun"}, OperatorRole.COMMANDER),
    ("GET", "/v1/admin/operators", None, OperatorRole.ADMIN),
    ("GET", "/v1/admin/rules", None, OperatorRole.ADMIN),
    ("DELETE", "/v1/admin/operators/op-00000000", None, OperatorRole.ADMIN),
]
CALLERS = ["anonymous", "viewer", "analyst", "commander", "admin"]


def expected_status(caller: str, needed: OperatorRole) -> int | None:
    """401/403 when refused; None when the caller gets through to the route."""
    role = OperatorRole.VIEWER if caller == "anonymous" else OperatorRole(caller)
    if role.includes(needed):
        return None
    return 401 if caller == "anonymous" else 403


@pytest.mark.parametrize(("method", "path", "body", "needed"), ROUTES)
def test_each_route_answers_each_role_as_the_scale_says(
    callers: dict[str, TestClient],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    needed: OperatorRole,
) -> None:
    for caller in CALLERS:
        answer = callers[caller].request(method, path, json=body)
        wanted = expected_status(caller, needed)
        if wanted is None:
            assert answer.status_code not in (401, 403), (caller, path, answer.text)
        else:
            assert answer.status_code == wanted, (caller, path, answer.text)
            assert set(answer.json()["error"]) == {"code", "message"}  # the problem format
    allowed = callers["admin"].request(method, path, json=body)
    assert allowed.status_code < 500, allowed.text


def test_a_refusal_says_which_role_is_missing(callers: dict[str, TestClient]) -> None:
    refused = callers["analyst"].post("/v1/alerts/alert-x-1/ack?lang=en")
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "role_missing",
        "message": "This needs the commander role; Analis has the analyst role.",
    }
    anonymous = callers["anonymous"].get("/v1/search", headers={"Accept-Language": "en"})
    assert anonymous.json()["error"]["code"] == "login_required"


def test_a_browser_is_sent_to_the_login_page_and_may_always_see_it(env: Env) -> None:
    client = TestClient(env.app, follow_redirects=False)
    page = client.get("/search?q=bentrok", headers={"Accept": "text/html"})
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fsearch%3Fq%3Dbentrok"
    login_page = client.get("/login")
    assert login_page.status_code == 200 and 'id="login-form"' in login_page.text
    assert client.get("/static/login.js").status_code == 200


def test_login_sets_a_strict_http_only_session_and_logout_ends_it(env: Env) -> None:
    client = TestClient(env.app)
    assert client.get("/v1/me").status_code == 401  # anonymous viewers are nobody in person
    answer = client.post("/v1/login", json={"user": "Komandan", "password": PASSWORD})
    assert answer.status_code == 200
    assert answer.json()["name"] == "Komandan" and answer.json()["role"] == "commander"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=43200"):
        assert attribute in cookie, cookie
    assert PASSWORD not in cookie
    assert client.get("/v1/me").json() == {
        "name": "Komandan",
        "role": "commander",
        "via": "session",
    }
    assert client.post("/v1/logout").status_code == 204
    assert client.get("/v1/me").status_code == 401


def test_a_form_login_works_and_a_wrong_password_is_logged_without_it(env: Env) -> None:
    client = TestClient(env.app)
    form = client.post("/v1/login", data={"user": "Analis", "password": PASSWORD})
    assert form.status_code == 200 and form.json()["role"] == "analyst"
    with capture_logs() as logs:
        wrong = TestClient(env.app).post(
            "/v1/login", json={"user": "Analis", "password": "tebak-tebak"}
        )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "login_failed"
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    [failed] = [entry for entry in logs if entry["event"] == "login failed"]
    assert failed["user"] == "Analis"
    assert "tebak-tebak" not in repr(logs)
    unknown = TestClient(env.app).post("/v1/login", json={"user": "siapa", "password": "x"})
    assert unknown.status_code == 401
    assert TestClient(env.app).post("/v1/login", content=b"user=a").status_code == 415


def test_a_tampered_cookie_counts_as_no_login(env: Env) -> None:
    value = logged_in(env.app, "Admin").cookies[SESSION_COOKIE]
    tampered = value[:-3] + ("AAA" if value[-3:] != "AAA" else "BBB")
    client = TestClient(env.app, cookies={SESSION_COOKIE: tampered})
    assert client.get("/v1/me").status_code == 401
    assert client.get("/v1/alerts").status_code == 401


def test_the_trusted_header_is_a_user_only_when_configured(env: Env) -> None:
    header = {"X-Forwarded-User": "Komandan"}
    off = TestClient(env.app)
    assert off.get("/v1/me", headers=header).status_code == 401
    assert off.get("/v1/alerts", headers=header).status_code == 401

    proxied = with_web(env.settings, trusted_user_header="X-Forwarded-User", anonymous_role="none")
    with TestClient(create_app(proxied, es=env.es)) as client:
        me = client.get("/v1/me", headers=header)
        assert me.json() == {"name": "Komandan", "role": "commander", "via": "header"}
        assert client.get("/v1/alerts", headers=header).status_code == 200
        stranger = client.get("/v1/alerts", headers={"X-Forwarded-User": "mallory"})
        assert stranger.status_code == 401
        assert stranger.json()["error"]["code"] == "user_unknown"
        assert client.get("/v1/board").status_code == 401  # anonymous: nobody
        viewer = client.get("/v1/board", headers={"X-Forwarded-User": "Pemantau"})
        assert viewer.status_code == 200


def audit_records(settings: Settings) -> list[tuple[str, AuditRecord]]:
    return [
        (key, AuditRecord.model_validate_json(value))
        for key, value in read_all(settings, settings.kafka.topics.audit)
        if value is not None
    ]


def test_an_export_and_an_ack_each_write_one_audit_record(env: Env) -> None:
    token = {"Authorization": f"Bearer {env.analyst_token}"}
    client = TestClient(env.app)
    with capture_logs() as logs:
        export = client.get("/v1/search/export?q=bentrok&format=csv", headers=token)
    assert export.status_code == 200
    assert int(export.headers["x-total-count"]) == 3
    [logged] = [entry for entry in logs if entry["event"] == "audit"]
    assert (logged["user"], logged["role"], logged["action"]) == (
        ANALYST_TOKEN_NAME,
        "analyst",
        "search.export",
    )
    assert logged["target"] == "q=bentrok&format=csv" and logged["at"]

    commander = logged_in(env.app, "Komandan")
    alert_id = alert(AlertState.FIRING).alert_id
    acked = commander.post(f"/v1/alerts/{alert_id}/ack", json={"note": "meluncur"})
    assert acked.status_code == 202, acked.text

    records = audit_records(env.settings)
    exports = [(k, r) for k, r in records if r.action is AuditAction.EXPORT]
    acks = [(k, r) for k, r in records if r.action is AuditAction.ACKNOWLEDGE]
    assert len(exports) == 1 and len(acks) == 1
    [(key, record)] = exports
    assert key == ANALYST_TOKEN_NAME  # keyed by user
    assert (record.user, record.role, record.via) == (ANALYST_TOKEN_NAME, "analyst", "token")
    assert record.target == "q=bentrok&format=csv" and record.detail == "csv, 3 rows"
    [(key, record)] = acks
    assert (key, record.user, record.role, record.via) == (
        "Komandan",
        "Komandan",
        "commander",
        "session",
    )
    assert record.target == alert_id and record.detail == "meluncur"
    assert (datetime.now(UTC) - record.at).total_seconds() < 60
    [(_, command)] = read_all(env.settings, env.settings.kafka.topics.alert_commands)
    assert AlertAck.model_validate_json(command or b"").acknowledged_by == "Komandan"


def test_silences_are_audited_with_who_added_and_removed_them(env: Env) -> None:
    commander = logged_in(env.app, "Komandan")
    created = commander.post(
        "/v1/silences", json={"rule_id": "bentrok-beruntun", "duration_minutes": 30}
    )
    assert created.status_code == 201, created.text
    silence_id = created.json()["silence_id"]
    assert created.json()["created_by"] == "Komandan"
    assert commander.delete(f"/v1/silences/{silence_id}").status_code == 204
    mine = [r for _, r in audit_records(env.settings) if r.target == silence_id]
    assert [r.action for r in mine] == [AuditAction.SILENCE_ADD, AuditAction.SILENCE_REMOVE]
    assert {r.user for r in mine} == {"Komandan"}
    assert "rule=bentrok-beruntun area=*" in (mine[0].detail or "")


def test_nobody_gets_the_live_stream_when_anonymous_access_is_off(env: Env) -> None:
    closed = with_web(env.settings, anonymous_role="none")
    client = TestClient(create_app(closed, es=env.es))
    assert client.get("/v1/live").status_code == 401
    assert client.get("/v1/board").status_code == 401
    assert (
        client.get("/", headers={"Accept": "text/html"}, follow_redirects=False).status_code == 303
    )


def test_an_admin_adds_and_revokes_operator_tokens_on_the_audit_trail(
    env: Env, callers: dict[str, TestClient]
) -> None:
    admin = callers["admin"]
    added = admin.post("/v1/admin/operators", json={"name": "Posko Samarinda", "role": "analyst"})
    assert added.status_code == 201, added.text
    token, token_id = added.json()["token"], added.json()["token_id"]
    listed = admin.get("/v1/admin/operators").json()["operators"]
    assert {"token_id": token_id, "name": "Posko Samarinda", "role": "analyst"}.items() <= next(
        o for o in listed if o["token_id"] == token_id
    ).items()
    assert token not in json.dumps(listed)  # never shown again
    script = TestClient(env.app, headers={"Authorization": f"Bearer {token}"})
    assert script.get("/v1/alerts").status_code == 200
    assert admin.delete(f"/v1/admin/operators/{token_id}").status_code == 204
    assert script.get("/v1/alerts").status_code == 401
    assert admin.delete(f"/v1/admin/operators/{token_id}").status_code == 404
    trail = [
        AuditRecord.model_validate_json(value or b"")
        for _, value in read_all(env.settings, env.settings.kafka.topics.audit)
    ]
    mine = [(r.user, r.action) for r in trail if r.target == token_id]
    assert mine == [("Admin", AuditAction.OPERATOR_ADD), ("Admin", AuditAction.OPERATOR_REVOKE)]


def test_an_admin_sees_the_rules_in_force_and_checks_a_rule_before_deploying_it(
    callers: dict[str, TestClient],
) -> None:
    admin = callers["admin"]
    shipped = admin.get("/v1/admin/rules").json()
    assert shipped["valid"] is True and shipped["problems"] == []
    assert {"level", "keyword"} <= {rule["type"] for rule in shipped["rules"]}
    good = """
- id: bom-uji
  name: Kata bom (uji)
  type: keyword
  params: {terms: [bom], window: 10m}
  tiers: {critical: {routes: [{channel: posko-webhook}]}}
  messages: {id: "Kata bom di {area_name}", en: "The word bomb in {area_name}"}
"""
    checked = admin.post(
        "/v1/admin/rules/check", content=good, headers={"Content-Type": "application/yaml"}
    ).json()
    assert checked["valid"] is True and checked["rules"][0]["id"] == "bom-uji"
    bad = good.replace("type: keyword", "type: keyword\n  realert: soon")
    refused = admin.post(
        "/v1/admin/rules/check", content=bad, headers={"Content-Type": "application/yaml"}
    ).json()
    assert refused["valid"] is False
    assert any("bom-uji" in line and "realert" in line for line in refused["problems"])
    not_yaml = admin.post(
        "/v1/admin/rules/check", content="- [", headers={"Content-Type": "application/yaml"}
    ).json()
    assert not_yaml["valid"] is False and "not YAML" in not_yaml["problems"][0]
