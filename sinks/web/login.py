"""Logging in and out: ``/login`` (the page), ``POST /v1/login``, ``POST /v1/logout``,
``GET /v1/me``.

A login with a user of the users file sets an HttpOnly, SameSite=Strict session cookie (signed,
see sinks/web/sessions.py); the browser sends it with every request of the pages, and no other
site can make it send it. A failed login waits a moment and is logged, without the password.

Failed logins are rate-limited per client address and per user name (token buckets,
``SITREP_WEB__LOGIN_FAILURES_*``): beyond the limit every login of that address or name is
answered 429 with Retry-After, without looking at the password, so guessing gains nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sinks.web.audit import client_address, security_log
from sinks.web.auth import Authenticator, Caller, Via, require
from sinks.web.board import STATIC_DIR
from sinks.web.errors import ApiProblem
from sinks.web.operators import OperatorRole
from sinks.web.sessions import SESSION_COOKIE, sign_session
from sitrep.ratelimit import RateLimit, RateLimiter, retry_after_header
from sitrep.settings import Settings

router = APIRouter(tags=["login"])

# Slows down guessing over HTTP; scrypt already makes each try cost ~50 ms of CPU.
FAILED_LOGIN_DELAY_S: Final = 0.5


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    user: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


_LOGIN_BODY: Final = {
    "required": True,
    "content": {
        media: {"schema": LoginBody.model_json_schema()}
        for media in ("application/json", "application/x-www-form-urlencoded")
    },
}


def parse_login_body(content_type: str, raw: bytes) -> LoginBody:
    """User and password from a JSON body or an HTML form (no form library needed for two
    fields)."""
    try:
        if content_type.startswith("application/json"):
            fields: Any = json.loads(raw or b"{}")
        elif content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
            fields = {key: values[0] for key, values in form.items()}
        else:
            raise ApiProblem(415, "login_body")
        return LoginBody.model_validate(fields)
    except (ValueError, ValidationError):
        raise ApiProblem(400, "login_body") from None


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins per client address and per user name."""

    by_address: RateLimiter
    by_user: RateLimiter
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        web = settings.web
        return cls(
            RateLimiter(
                RateLimit(
                    web.login_failures_per_minute_per_address / 60,
                    web.login_failures_burst_per_address,
                )
            ),
            RateLimiter(
                RateLimit(
                    web.login_failures_per_minute_per_user / 60, web.login_failures_burst_per_user
                )
            ),
        )

    def wait_s(self, address: str, user: str) -> float:
        """0 if a login of ``user`` from ``address`` may be tried now, else seconds to wait."""
        now = self.clock()
        return max(
            self.by_address.check(address, now).retry_after_s,
            self.by_user.check(user_key(user), now).retry_after_s,
        )

    def failed(self, address: str, user: str) -> None:
        now = self.clock()
        self.by_address.take(address, now)
        self.by_user.take(user_key(user), now)


def user_key(user: str) -> str:
    """One bucket per person whatever the case or spacing an attacker sends."""
    return user.strip().casefold()


def login_limited(wait_s: float) -> ApiProblem:
    seconds = retry_after_header(wait_s)
    problem = ApiProblem(429, "login_rate_limited", seconds=seconds)
    problem.headers["Retry-After"] = seconds
    return problem


def identity(caller: Caller) -> dict[str, str]:
    return {"name": caller.name, "role": caller.role.value, "via": caller.via.value}


@router.get("/login", include_in_schema=False)
def login_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "login.html", headers={"Cache-Control": "no-cache"})


@router.post(
    "/v1/login",
    summary="Log in with a user of the users file; sets the session cookie",
    openapi_extra={"requestBody": _LOGIN_BODY},
    responses={
        401: {"description": "wrong user or password"},
        429: {"description": "too many failed logins from this address or for this user"},
    },
)
async def login(request: Request) -> JSONResponse:
    body = parse_login_body(request.headers.get("content-type", ""), await request.body())
    authenticator: Authenticator = request.app.state.auth
    limits: LoginLimits | None = getattr(request.app.state, "login_limits", None)
    address = client_address(request)
    if limits is not None:
        wait_s = limits.wait_s(address, body.user)
        if wait_s > 0:
            security_log().warning("login rate limited", user=body.user, client=address)
            raise login_limited(wait_s)
    # scrypt takes tens of milliseconds of CPU: off the event loop, so streams keep flowing.
    account = await run_in_threadpool(authenticator.users.authenticate, body.user, body.password)
    if account is None:
        if limits is not None:
            limits.failed(address, body.user)
        security_log().warning("login failed", user=body.user, client=address)
        await asyncio.sleep(FAILED_LOGIN_DELAY_S)
        raise ApiProblem(401, "login_failed")
    expires_at = datetime.now(UTC) + authenticator.session_lifetime
    response = JSONResponse(
        {
            **identity(Caller(account.name, account.role, Via.SESSION)),
            "expires_at": expires_at.isoformat(),
        }
    )
    response.set_cookie(
        SESSION_COOKIE,
        sign_session(account.name, expires_at, authenticator.session_key),
        max_age=int(authenticator.session_lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    security_log().info(
        "login", user=account.name, role=account.role.value, client=client_address(request)
    )
    return response


@router.post("/v1/logout", status_code=204, summary="End the session of this browser")
def logout(request: Request) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get(
    "/v1/me",
    summary="Who this request is (name, role, how it authenticated)",
    responses={401: {"description": "not logged in"}},
)
def me(caller: Annotated[Caller, Depends(require(OperatorRole.VIEWER))]) -> dict[str, str]:
    if caller.via is Via.ANONYMOUS:
        raise ApiProblem(401, "login_required")
    return identity(caller)
