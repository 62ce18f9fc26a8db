"""No configured secret ever reaches the logs: the intake and the web service run as real
processes (JSON logs at DEBUG, so libraries talk too) with every kind of secret configured,
serve logins, tokens, reports, rejections and admin calls, and then their whole output is
searched for each secret. So do the worker, the indexer and the notifier, asked for their
pages with the right and a guessed monitoring token. The notifier's channel check is searched
the same way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from producers.tokens import add_grant, make_grant, new_token
from schemas.registry import default_registry
from schemas.report import ReporterRole
from sinks.es.setup import setup
from sinks.web.operators import OperatorRole, add_operator, new_operator_grant
from sinks.web.sessions import SESSION_COOKIE
from sinks.web.users import add_user, new_user
from sitrep import clients
from sitrep.monitoring import add_monitoring_token, new_monitoring_grant
from sitrep.ports import free_ports
from sitrep.settings import Settings, TopicNames
from sitrep.topics import desired_topics, ensure_topics
from tests.processes import terminate
from tests.producers.conftest import report_document
from tests.sinks.conftest import drop_indices

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def secret(label: str) -> str:
    return f"{label}-{secrets.token_urlsafe(18)}"


class Service:
    """A `sitrep` subcommand as its own process, its output (stdout and stderr) in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, health: str) -> None:
        self.log = log
        sitrep = str(Path(sys.executable).with_name("sitrep"))
        with log.open("wb") as out:
            self.process = subprocess.Popen([sitrep, *args], env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"{args} exited:\n{self.text()[-3000:]}"
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"{args} not ready:\n{self.text()[-3000:]}")

    def stop(self) -> None:
        terminate(self.process)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def stack_settings(local_stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    tag = f"sec{uuid.uuid4().hex[:8]}"
    topics = TopicNames(**{name: f"{tag}.{name}" for name in TopicNames.model_fields})
    settings = local_stack.model_copy(
        update={
            "home": tmp_path / "home",
            "kafka": local_stack.kafka.model_copy(update={"topics": topics, "partitions": 1}),
            "indexer": local_stack.indexer.model_copy(update={"index_prefix": tag}),
        }
    )
    admin = clients.kafka_admin(settings)
    ensure_topics(admin, desired_topics(settings.kafka))
    es = clients.elasticsearch(settings)
    setup(es, settings.indexer)
    yield settings
    try:
        admin.delete_topics([name for _, name in topics])
    finally:
        admin.close()
    try:
        drop_indices(es, tag)
    finally:
        es.close()


def test_no_secret_appears_in_the_logs_of_a_run(stack_settings: Settings, tmp_path: Path) -> None:
    settings = stack_settings
    found: dict[str, str] = {
        "intake token": new_token(),
        "guessed intake token": new_token(),
        "operator token": "",
        "guessed operator token": "sitrep_op_" + secrets.token_urlsafe(24),
        "user password": secret("sandi-pengguna"),
        "wrong password": secret("sandi-salah"),
        "session secret": secret("kunci-sesi"),
        "es password": secret("sandi-es"),
        "es api key": secret("kunci-api-es"),
        "kafka sasl password": secret("sandi-kafka"),
        "webhook secret": secret("hmac-posko"),
        "chat url": f"https://chat.example/hooks/{secrets.token_urlsafe(12)}",
        "monitoring token": "",
        "guessed monitoring token": "sitrep_mon_" + secrets.token_urlsafe(32),
    }
    home = settings.home
    registry = default_registry()
    tokens_file = home / "intake" / "tokens.yaml"
    add_grant(
        tokens_file,
        make_grant(
            found["intake token"],
            unit="Polres Balikpapan",
            role=ReporterRole.POLRES,
            regencies=("64.71",),
            registry=registry,
            created_at=NOW,
        ),
    )
    operator, grant = new_operator_grant("Skrip Admin", (OperatorRole.ADMIN,), NOW)
    found["operator token"] = operator
    add_operator(settings.web.tokens_path(home), grant)
    found["monitoring token"], monitoring = new_monitoring_grant("prometheus", NOW)
    add_monitoring_token(settings.monitoring.tokens_path(home), monitoring)  # HOME/monitoring
    add_user(
        settings.web.users_path(home),
        new_user("Komandan", OperatorRole.COMMANDER, found["user password"], NOW),
    )
    channels = tmp_path / "channels.yaml"
    channels.write_text(
        "channels:\n"
        "  posko-webhook:\n    type: webhook\n    url: https://posko.example/hook\n"
        "    secret_env: SITREP_NOTIFY_POSKO_SECRET\n"
        "  mattermost-ops:\n    type: slack\n    url_env: SITREP_NOTIFY_MATTERMOST_URL\n"
    )
    intake_port, web_port, worker_port, index_port, notify_port = free_ports(5)
    tag = settings.indexer.index_prefix
    env = {
        **os.environ,
        "SITREP_HOME": str(home),
        "SITREP_LOG__FORMAT": "json",
        "SITREP_LOG__LEVEL": "DEBUG",
        "SITREP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        **{f"SITREP_KAFKA__TOPICS__{name.upper()}": topic for name, topic in settings.kafka.topics},
        # Configured, though the local broker is plaintext (no SASL mechanism: not sent).
        "SITREP_KAFKA__SASL_USERNAME": "sitrep",
        "SITREP_KAFKA__SASL_PASSWORD": found["kafka sasl password"],
        # The local node has no security: it ignores the Authorization header it is sent.
        "SITREP_ELASTICSEARCH__URL": settings.elasticsearch.url,
        "SITREP_ELASTICSEARCH__USERNAME": "sitrep",
        "SITREP_ELASTICSEARCH__PASSWORD": found["es password"],
        "SITREP_INDEXER__INDEX_PREFIX": settings.indexer.index_prefix,
        "SITREP_INTAKE__PORT": str(intake_port),
        "SITREP_WEB__PORT": str(web_port),
        "SITREP_WEB__SESSION_SECRET": found["session secret"],
        "SITREP_WEB__ANONYMOUS_ROLE": "none",
        "SITREP_NOTIFY__CHANNELS_FILE": str(channels),
        "SITREP_NOTIFY_POSKO_SECRET": found["webhook secret"],
        "SITREP_NOTIFY_MATTERMOST_URL": found["chat url"],
        # The roles behind monitoring tokens (worker pages, indexer and notifier metrics).
        "SITREP_WORKER__APP_ID": f"{tag}-worker",
        "SITREP_WORKER__WEB_PORT": str(worker_port),
        "SITREP_WORKER__DATA_DIR": str(tmp_path / "worker"),
        "SITREP_WORKER__SESSION_TIMEOUT_S": "6",
        "SITREP_INDEXER__GROUP_ID": f"{tag}-indexer",
        "SITREP_INDEXER__METRICS_PORT": str(index_port),
        "SITREP_NOTIFY__GROUP_ID": f"{tag}-notify",
        "SITREP_NOTIFY__METRICS_PORT": str(notify_port),
    }
    intake = Service(
        ["intake", "serve"],
        env,
        tmp_path / "intake.log",
        f"http://127.0.0.1:{intake_port}/healthz",
    )
    web = Service(["serve"], env, tmp_path / "web.log", f"http://127.0.0.1:{web_port}/healthz")
    monitored: dict[str, Service] = {}
    try:
        for role, args, port in (
            ("worker", ["worker"], worker_port),
            ("indexer", ["index"], index_port),
            ("notifier", ["notify"], notify_port),
        ):
            health = f"http://127.0.0.1:{port}/healthz"
            monitored[role] = Service(args, env, tmp_path / f"{role}.log", health)
        exercise_intake(f"http://127.0.0.1:{intake_port}", found)
        found["session cookie"], found["new operator token"] = exercise_web(
            f"http://127.0.0.1:{web_port}", found
        )
        exercise_monitoring(f"http://127.0.0.1:{worker_port}", ["/metrics", "/areas"], found)
        for port in (index_port, notify_port):
            exercise_monitoring(f"http://127.0.0.1:{port}", ["/metrics"], found)
    finally:
        for service in (intake, web, *monitored.values()):
            service.stop()
        drop_worker_topics(settings, f"{tag}-worker")
    check = subprocess.run(
        [str(Path(sys.executable).with_name("sitrep")), "notify", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # An Elasticsearch API key is configured instead of the password for one more short run.
    api_key_env = {**env, "SITREP_ELASTICSEARCH__API_KEY": found["es api key"]}
    es_check = subprocess.run(
        [str(Path(sys.executable).with_name("sitrep")), "search", "bentrok"],
        env=api_key_env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    logs = {
        "intake": intake.text(),
        "web": web.text(),
        "notify check": check.stdout + check.stderr,
        "search": es_check.stdout + es_check.stderr,
        **{role: service.text() for role, service in monitored.items()},
    }
    # The logs are real: the run left the lines that prove each part was exercised.
    events = [
        json.loads(line)["event"] for line in logs["web"].splitlines() if line.startswith("{")
    ]
    assert {"login", "login failed", "audit"} <= set(events), events
    assert "dead-lettered" in logs["intake"]
    assert "Komandan" in logs["web"] and "Polres Balikpapan" in logs["intake"]  # names are fine
    assert es_check.returncode == 0, logs["search"]
    leaks = [
        f"{name} in the {where} log"
        for name, value in found.items()
        for where, text in logs.items()
        for form in forms(value)
        if form in text
    ]
    assert leaks == []


def drop_worker_topics(settings: Settings, app_id: str) -> None:
    """The worker's changelog and roll-up topics (the fixture drops the others)."""
    admin = clients.kafka_admin(settings)
    try:
        internal = [t for t in admin.list_topics() if t.startswith(f"{app_id}-")]
        if internal:
            admin.delete_topics(internal)
    finally:
        admin.close()


def forms(value: str) -> set[str]:
    """The secret as it is, and as it could be written by mistake: base64 (basic auth), sha256."""
    raw = value.encode()
    return {
        value,
        base64.b64encode(raw).decode(),
        base64.b64encode(f"sitrep:{value}".encode()).decode(),
        hashlib.sha256(raw).hexdigest(),
    }


def exercise_intake(base: str, found: dict[str, str]) -> None:
    own = {"Authorization": f"Bearer {found['intake token']}"}
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.post("/v1/reports", json=report_document(), headers=own).status_code == 202
        invalid = client.post("/v1/reports", json=report_document(severity=9), headers=own)
        assert invalid.status_code == 422
        assert client.post("/v1/reports", content=b"{nope", headers=own).status_code == 422
        guessed = {"Authorization": f"Bearer {found['guessed intake token']}"}
        assert (
            client.post("/v1/reports", json=report_document(), headers=guessed).status_code == 403
        )
        assert client.get("/metrics", headers=own).status_code == 200


def exercise_monitoring(base: str, protected: list[str], found: dict[str, str]) -> None:
    right = {"Authorization": f"Bearer {found['monitoring token']}"}
    guessed = {"Authorization": f"Bearer {found['guessed monitoring token']}"}
    with httpx.Client(base_url=base, timeout=30) as client:
        for path in protected:
            assert client.get(path, headers=right).status_code == 200, path
            assert client.get(path, headers=guessed).status_code == 401, path
            assert client.get(path).status_code == 401, path


def exercise_web(base: str, found: dict[str, str]) -> tuple[str, str]:
    """Logins, session use, operator tokens (one added over the API); the session cookie and
    the new operator token, both secrets too."""
    with httpx.Client(base_url=base, timeout=30) as client:
        wrong = {"user": "Komandan", "password": found["wrong password"]}
        assert client.post("/v1/login", json=wrong).status_code == 401
        form = {"user": "Komandan", "password": found["user password"]}
        login = client.post("/v1/login", data=form)
        assert login.status_code == 200, login.text
        cookie = login.cookies[SESSION_COOKIE]
        assert client.get("/v1/me").json()["via"] == "session"
        assert client.get("/v1/alerts").status_code == 200
        export = client.get("/v1/search/export", params={"q": "bentrok", "format": "csv"})
        assert export.status_code == 200, export.text
        client.cookies.clear()
        admin = {"Authorization": f"Bearer {found['operator token']}"}
        added = client.post("/v1/admin/operators", json={"name": "Kiosk"}, headers=admin)
        assert added.status_code == 201, added.text
        new_token: str = added.json()["token"]
        assert (
            client.get("/v1/me", headers={"Authorization": f"Bearer {new_token}"}).json()["name"]
            == "Kiosk"
        )
        guessed = {"Authorization": f"Bearer {found['guessed operator token']}"}
        assert client.get("/v1/board", headers=guessed).status_code == 401
        assert client.get("/metrics", headers=admin).status_code == 200
        return cookie, new_token
