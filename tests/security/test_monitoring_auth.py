"""Monitoring tokens (sitrep/monitoring.py): the worker's web pages and the indexer's and the
notifier's metrics servers answer only their health checks without one.

Here: the tokens file and its command, the decision for every kind of caller, and every route
of both servers (the worker's Faust pages enumerated from its aiohttp router, Faust's own
included). The running roles, each endpoint with no, a wrong and the right token, are checked
in tests/streams/test_streams_worker_it.py, tests/sinks/test_sinks_indexer_it.py and
tests/sinks/notify/test_notify_it.py.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import subprocess
import sys
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from sinks.indexer.metrics import IndexerMetrics
from sinks.notify.metrics import NotifyMetrics
from sitrep.monitoring import (
    MISSING_TOKEN,
    PUBLIC_PATHS,
    UNKNOWN_TOKEN,
    MonitoringTokens,
    add_monitoring_token,
    load_monitoring_file,
    new_monitoring_grant,
    revoke_monitoring_token,
    serve_metrics,
)
from sitrep.settings import Settings
from tests.monitoring import (
    WRONG_TOKEN,
    assert_monitoring_access,
    monitoring_auth,
    monitoring_env,
)

NOW = datetime(2024, 11, 27, tzinfo=UTC)
SITREP = str(Path(sys.executable).with_name("sitrep"))
PUBLIC, TOKEN = "public", "token"


def session_tokens() -> MonitoringTokens:
    """The tokens file of tests/monitoring.py (whose token ``monitoring_auth`` sends)."""
    return MonitoringTokens(Path(monitoring_env()["SITREP_MONITORING__TOKENS_FILE"]))


# --- the tokens file ----------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_private(tmp_path: Path) -> None:
    path = tmp_path / "monitoring" / "tokens.yaml"
    token, grant = new_monitoring_grant("prometheus", NOW)
    add_monitoring_token(path, grant)
    text = path.read_text()
    assert token.startswith("sitrep_mon_") and len(token) > 40
    assert token not in text and grant.sha256 in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_monitoring_file(path).tokens == (grant,)


def test_a_token_counts_from_the_next_request_until_it_is_revoked(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    tokens = MonitoringTokens(path)
    token, grant = new_monitoring_grant("prometheus", NOW)
    bearer = f"Bearer {token}"
    assert tokens.refusal("/metrics", bearer) is UNKNOWN_TOKEN  # no file: nobody
    add_monitoring_token(path, grant)
    assert tokens.refusal("/metrics", bearer) is None
    assert revoke_monitoring_token(path, grant.token_id)
    os.utime(path, (1, 1))  # a distinct mtime even within the file system's resolution
    assert tokens.refusal("/metrics", bearer) is UNKNOWN_TOKEN
    assert not revoke_monitoring_token(path, grant.token_id)


def test_replace_keeps_one_token_per_name(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    first = new_monitoring_grant("demo", NOW)[1]
    other = new_monitoring_grant("prometheus", NOW)[1]
    second = new_monitoring_grant("demo", NOW)[1]
    for grant in (first, other):
        add_monitoring_token(path, grant)
    add_monitoring_token(path, second, replace=True)
    assert load_monitoring_file(path).tokens == (other, second)


def test_token_command_adds_lists_and_revokes(tmp_path: Path) -> None:
    env = {**os.environ, "SITREP_HOME": str(tmp_path / "home")}

    def sitrep(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SITREP, "monitoring", "token", *args], env=env, capture_output=True, text=True
        )

    added = sitrep("add", "--name", "prometheus")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    path = tmp_path / "home" / "monitoring" / "tokens.yaml"  # the default: HOME/monitoring
    (grant,) = load_monitoring_file(path).tokens
    assert MonitoringTokens(path).authenticate(token) == grant
    assert grant.token_id in added.stderr and token not in added.stderr
    listed = sitrep("list")
    assert grant.token_id in listed.stdout and "prometheus" in listed.stdout
    assert token not in listed.stdout + listed.stderr and grant.sha256 not in listed.stdout
    assert sitrep("revoke", grant.token_id).returncode == 0
    assert load_monitoring_file(path).tokens == ()
    unknown = sitrep("revoke", grant.token_id)
    assert unknown.returncode == 1 and "no token" in unknown.stderr


# --- the decision -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "authorization", "expected"),
    [
        ("/metrics", None, MISSING_TOKEN),
        ("/metrics", "", MISSING_TOKEN),
        ("/metrics", "Bearer", MISSING_TOKEN),
        ("/metrics", "Bearer   ", MISSING_TOKEN),
        ("/metrics", WRONG_TOKEN["Authorization"], UNKNOWN_TOKEN),
        ("/metrics", monitoring_auth("Basic")["Authorization"], MISSING_TOKEN),
        ("/metrics", monitoring_auth("Token")["Authorization"], MISSING_TOKEN),
        ("/metrics", monitoring_auth()["Authorization"], None),
        ("/metrics", monitoring_auth("bearer")["Authorization"], None),
        ("/areas/64.72", monitoring_auth()["Authorization"] + "x", UNKNOWN_TOKEN),
        ("/no-such-page", None, MISSING_TOKEN),  # unknown pages too: nothing to learn
        ("/healthz/", None, MISSING_TOKEN),
        ("/healthz", None, None),
        ("/livez", None, None),
        ("/readyz", WRONG_TOKEN["Authorization"], None),
    ],
)
def test_only_health_checks_answer_without_a_known_token(
    path: str, authorization: str | None, expected: object
) -> None:
    assert session_tokens().refusal(path, authorization) is expected


def test_refusals_say_why_in_indonesian_and_english() -> None:
    for refusal in (MISSING_TOKEN, UNKNOWN_TOKEN):
        assert refusal.status == 401
        assert refusal.headers == {"WWW-Authenticate": "Bearer"}
        assert refusal.body["error"] == "unauthorized"
        assert "Token pemantauan" in refusal.body["pesan"]
        assert "monitoring token" in refusal.body["message"]


def test_without_a_tokens_file_nothing_but_health_is_served(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path)  # type: ignore[call-arg]
    with capture_logs() as logs:
        tokens = MonitoringTokens.of(settings, "indexer")
    assert tokens.path == tmp_path / "monitoring" / "tokens.yaml"
    [warning] = [entry for entry in logs if entry["log_level"] == "warning"]
    assert "sitrep monitoring token add" in warning["event"] and warning["role"] == "indexer"
    assert tokens.refusal("/metrics", WRONG_TOKEN["Authorization"]) is UNKNOWN_TOKEN
    assert tokens.refusal("/healthz", None) is None


def test_a_broken_tokens_file_lets_nobody_in_and_logs_no_hash(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    token, grant = new_monitoring_grant("prometheus", NOW)
    path.write_text(f"tokens:\n- token_id: {grant.token_id}\n  sha256: '{grant.sha256}'\n")
    with capture_logs() as logs:
        assert MonitoringTokens(path).refusal("/metrics", f"Bearer {token}") is UNKNOWN_TOKEN
    assert logs and all(grant.sha256 not in str(entry) for entry in logs)
    assert logs[0]["log_level"] == "error" and logs[0]["error"] == "ValidationError"


def test_every_stored_digest_is_compared_in_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.yaml"
    grants = [new_monitoring_grant(f"scraper-{n}", NOW) for n in range(3)]
    for _, grant in grants:
        add_monitoring_token(path, grant)
    compared: list[tuple[str, str]] = []
    compare_digest = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr("sitrep.monitoring.hmac.compare_digest", spy)
    tokens = MonitoringTokens(path)
    first_token = grants[0][0]
    assert tokens.authenticate(first_token) == grants[0][1]
    # Not stopped at the first match: every digest, whichever token it was.
    assert [stored for stored, _ in compared] == [grant.sha256 for _, grant in grants]


# --- the indexer's and the notifier's server ----------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "family"),
    [(IndexerMetrics().registry, "sitrep_indexer_"), (NotifyMetrics().registry, "sitrep_notify_")],
    ids=["indexer", "notifier"],
)
def test_metrics_server_routes(registry: Any, family: str) -> None:
    healthy = [True]
    server = serve_metrics("127.0.0.1", 0, registry, lambda: healthy[0], session_tokens(), "t")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert_monitoring_access(base, protected=["/metrics"], public=["/healthz"])
        assert family in httpx.get(f"{base}/metrics", headers=monitoring_auth()).text
        assert httpx.get(f"{base}/metrics?x=1").status_code == 401
        assert httpx.get(f"{base}/nothing").status_code == 401  # not 404: nothing to learn
        assert httpx.get(f"{base}/nothing", headers=monitoring_auth()).status_code == 404
        healthy[0] = False
        assert httpx.get(f"{base}/healthz").status_code == 503  # unhealthy, never 401
    finally:
        server.shutdown()
        server.server_close()


# --- the worker's Faust pages -------------------------------------------------------------------

# Every route of the worker's web server (its pages and Faust's own blueprints) and who may use
# it. A route added without an entry fails the test.
WORKER_ROUTES: dict[str, str] = {
    "/healthz": PUBLIC,
    "/livez": PUBLIC,
    "/metrics": TOKEN,
    "/areas": TOKEN,
    "/areas/{code}": TOKEN,
    "/tables/{name}/{key}": TOKEN,
    "/": TOKEN,  # Faust's production index
    "/router/": TOKEN,
    "/router/topics": TOKEN,
    "/router/{name}/": TOKEN,
    "/router/{name}/{key}/": TOKEN,
}
EXAMPLE = {"code": "64.72", "name": "areas", "key": "64.72.09"}


def worker_web(settings: Settings) -> Any:
    """The Faust app's web server with the worker's pages, as `build_worker` sets it up (no
    Kafka needed: the pages are not run past the token check here)."""
    import faust

    from streams.app import _pages

    app = faust.App("monitoring-test", web_enabled=True, web_tables_enabled=False)
    _pages(types.SimpleNamespace(app=app, settings=settings))  # type: ignore[arg-type]
    app.web.init_server()  # Faust's own blueprints, as at start
    return app.web.web_app


def test_every_worker_page_but_health_needs_a_monitoring_token(settings: Settings) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    web_app = worker_web(settings.model_copy(update={"monitoring": monitoring_settings()}))
    routes = {resource.canonical for resource in web_app.router.resources()}
    assert routes == set(WORKER_ROUTES), "a route without a policy entry (WORKER_ROUTES)"
    assert {p for p, who in WORKER_ROUTES.items() if who == PUBLIC} <= PUBLIC_PATHS

    async def check() -> None:
        async with TestClient(TestServer(web_app)) as client:
            for route, who in WORKER_ROUTES.items():
                path = route.format(**EXAMPLE)
                for headers in ({}, WRONG_TOKEN, monitoring_auth("Basic")):
                    answer = await client.get(path, headers=headers)
                    if who == TOKEN:
                        assert answer.status == 401, (path, headers, answer.status)
                        assert (await answer.json())["error"] == "unauthorized"
                        assert answer.headers["WWW-Authenticate"] == "Bearer"
                    else:
                        assert answer.status != 401, (path, headers, answer.status)
            livez = await client.get("/livez")
            assert livez.status == 200 and (await livez.json()) == {"status": "alive"}

    asyncio.run(check())


def monitoring_settings() -> Any:
    from sitrep.settings import MonitoringSettings

    return MonitoringSettings(tokens_file=Path(monitoring_env()["SITREP_MONITORING__TOKENS_FILE"]))
