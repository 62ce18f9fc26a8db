"""Rate limits: the token bucket itself, requests per intake token, failed logins per client
address and per user name. 429 with Retry-After beyond the limit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from sinks.web import login
from sinks.web.operators import OperatorRole
from sinks.web.users import add_user, new_user
from sitrep.ratelimit import (
    Bucket,
    RateLimit,
    RateLimiter,
    retry_after,
    retry_after_header,
    take,
)
from tests.producers.conftest import report_document
from tests.security.conftest import NOW, FakeClock, IntakeApp, WebApp, bearer, build_intake

# --- the bucket -----------------------------------------------------------------------------

LIMIT = RateLimit(rate_per_s=2.0, burst=3)


def test_a_full_bucket_allows_its_burst_then_refuses_until_it_refills() -> None:
    bucket = Bucket.full(LIMIT, now=0.0)
    for _ in range(3):
        bucket, decision = take(bucket, LIMIT, now=0.0)
        assert decision.allowed and decision.retry_after_s == 0
    bucket, refused = take(bucket, LIMIT, now=0.0)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(0.5)
    bucket, still = take(bucket, LIMIT, now=0.25)
    assert not still.allowed and still.retry_after_s == pytest.approx(0.25)
    bucket, again = take(bucket, LIMIT, now=0.5)
    assert again.allowed


def test_refill_never_exceeds_the_burst_and_time_never_runs_backwards() -> None:
    bucket = Bucket(tokens=0.0, at=10.0).refilled(LIMIT, now=1000.0)
    assert bucket.tokens == 3.0
    earlier = Bucket(tokens=1.0, at=10.0).refilled(LIMIT, now=5.0)  # a clock step back
    assert earlier == Bucket(tokens=1.0, at=10.0)
    assert retry_after(Bucket(0.5, 0.0), LIMIT) == pytest.approx(0.25)


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert [retry_after_header(s) for s in (0.0, 0.01, 1.0, 1.2, 59.9)] == [
        "1",
        "1",
        "1",
        "2",
        "60",
    ]


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimit(rate_per_s=-1, burst=1)
    with pytest.raises(ValueError):
        RateLimit(rate_per_s=1, burst=0)


def test_the_limiter_keeps_one_bucket_per_key_and_forgets_the_oldest() -> None:
    limiter = RateLimiter(RateLimit(rate_per_s=1.0, burst=1), max_keys=2)
    assert limiter.take("a", 0.0).allowed and not limiter.take("a", 0.0).allowed
    assert limiter.take("b", 0.0).allowed  # another key has its own bucket
    assert not limiter.check("a", 0.5).allowed and limiter.check("a", 1.0).allowed
    limiter.take("c", 0.0)
    assert len(limiter) == 2  # "a", the least recently used, was dropped
    assert limiter.check("a", 0.0).allowed


def test_a_rate_of_zero_means_no_limit() -> None:
    limiter = RateLimiter(RateLimit(rate_per_s=0, burst=1))
    assert all(limiter.take("k", 0.0).allowed for _ in range(1000))
    assert len(limiter) == 0


# --- intake: requests per token ------------------------------------------------------------


def test_the_intake_limits_requests_per_token_with_429_and_retry_after(tmp_path: Path) -> None:
    clock = FakeClock()
    with build_intake(tmp_path, RateLimit(rate_per_s=0.1, burst=3), clock=clock) as intake:
        limited_per_token(intake, clock)


def limited_per_token(intake: IntakeApp, clock: FakeClock) -> None:
    client = TestClient(intake.app)
    own = bearer(intake.tokens["balikpapan"])
    for _ in range(3):
        assert client.post("/v1/reports", json=report_document(), headers=own).status_code == 202
    refused = client.post("/v1/reports", json=report_document(), headers=own)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "10"
    body = refused.json()
    assert body["error"] == "rate_limited" and "10 detik" in body["pesan"]
    assert body["message"] == "Too many requests with this token; retry in 10 s."
    # Other tokens and the health checks are not affected; nothing was written for the refusal.
    other = bearer(intake.tokens["anywhere"])
    assert client.post("/v1/reports", json=report_document(), headers=other).status_code == 202
    assert client.get("/healthz").status_code == 200
    assert len(intake.producer.sent) == 4
    assert (
        'sitrep_intake_requests_total{status="429"} 1.0'
        in client.get("/metrics", headers=other).text
    )
    clock.advance(10)
    assert client.post("/v1/reports", json=report_document(), headers=own).status_code == 202


def test_an_unknown_token_is_refused_before_the_rate_limit_counts(tmp_path: Path) -> None:
    with build_intake(tmp_path, RateLimit(rate_per_s=0.1, burst=1)) as intake:
        client = TestClient(intake.app)
        for _ in range(3):
            unknown = client.post("/v1/reports", json={}, headers=bearer("sitrep_guess"))
            assert unknown.status_code == 403
        own = bearer(intake.tokens["balikpapan"])
        assert client.post("/v1/reports", json=report_document(), headers=own).status_code == 202


def test_intake_rate_limit_settings_have_safe_defaults(tmp_path: Path) -> None:
    from sitrep.settings import load_settings

    intake = load_settings(home=tmp_path).intake
    assert intake.rate_limit_per_s > 0 and intake.rate_limit_burst >= 1


# --- login: failed attempts per address and per user ---------------------------------------

PASSWORD = "kata-sandi-yang-benar"


@pytest.fixture
def fast_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login, "FAILED_LOGIN_DELAY_S", 0.0)


def web_with_users(web_factory: Callable[..., WebApp], **limits: object) -> WebApp:
    web = web_factory(anonymous_role="none", **limits)
    users = web.settings.web.users_path(web.settings.home)
    for name in ("Analis", "Komandan"):
        add_user(users, new_user(name, OperatorRole.ANALYST, PASSWORD, NOW))
    return web


def attempt(client: TestClient, user: str, password: str, lang: str = "id") -> int:
    body = {"user": user, "password": password}
    return client.post(f"/v1/login?lang={lang}", json=body).status_code


def test_failed_logins_for_one_user_are_limited_even_with_the_right_password(
    web_factory: Callable[..., WebApp], fast_failures: None
) -> None:
    web = web_with_users(
        web_factory, login_failures_burst_per_user=3, login_failures_per_minute_per_user=1.0
    )
    clock = FakeClock()
    web.app.state.login_limits = login.LoginLimits(
        web.app.state.login_limits.by_address, web.app.state.login_limits.by_user, clock
    )
    client = TestClient(web.app)
    assert [attempt(client, "Analis", f"tebakan-{n}") for n in range(3)] == [401, 401, 401]
    with capture_logs() as logs:
        limited = client.post("/v1/login", json={"user": "Analis", "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "60"
    assert limited.json()["error"] == {
        "code": "login_rate_limited",
        "message": "Terlalu banyak percobaan masuk yang gagal; coba lagi dalam 60 detik.",
    }
    assert SESSION_COOKIE_NAME not in limited.headers.get("set-cookie", "")
    assert [e["event"] for e in logs] == ["login rate limited"]
    assert PASSWORD not in repr(logs)
    # The same name in other case or spacing is the same person.
    assert attempt(client, " ANALIS ", PASSWORD, lang="en") == 429
    english = client.post("/v1/login?lang=en", json={"user": "analis", "password": PASSWORD})
    assert english.json()["error"]["message"] == "Too many failed logins; try again in 60 s."
    # Another user from the same address is not affected.
    assert attempt(client, "Komandan", PASSWORD) == 200
    clock.advance(60)
    assert attempt(client, "Analis", PASSWORD) == 200


def test_failed_logins_from_one_address_are_limited_across_user_names(
    web_factory: Callable[..., WebApp], fast_failures: None
) -> None:
    web = web_with_users(
        web_factory,
        login_failures_burst_per_address=4,
        login_failures_per_minute_per_address=2.0,
    )
    client = TestClient(web.app)
    statuses = [attempt(client, f"pengguna-{n}", "apa-saja") for n in range(4)]
    assert statuses == [401] * 4
    limited = client.post("/v1/login", json={"user": "Komandan", "password": PASSWORD})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "30"


def test_successful_logins_are_not_counted(
    web_factory: Callable[..., WebApp], fast_failures: None
) -> None:
    web = web_with_users(
        web_factory, login_failures_burst_per_user=1, login_failures_burst_per_address=1
    )
    client = TestClient(web.app)
    assert [attempt(client, "Analis", PASSWORD) for _ in range(5)] == [200] * 5


SESSION_COOKIE_NAME = "sitrep_session"
