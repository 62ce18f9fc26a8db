"""Who is calling the web service and whether they may: one dependency, ``require(role)``.

The caller is the first of, in this order:

1. an operator token (``Authorization: Bearer``, ``sitrep operators add``); an unknown token is
   refused rather than ignored, so a script with a revoked token fails loudly;
2. the session cookie of a login (``POST /v1/login``); a stale or tampered cookie is ignored;
3. the trusted reverse-proxy header (``SITREP_WEB__TRUSTED_USER_HEADER``), naming a user of
   the users file; only set behind a proxy that strips that header from clients;
4. anonymous, with ``SITREP_WEB__ANONYMOUS_ROLE`` (none: nobody).

Too low a role is 403; no caller, or an anonymous one below the role, 401. A browser that
navigates to a page it may not see anonymously is sent to ``/login`` instead.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from sinks.web.errors import ApiProblem
from sinks.web.operators import OperatorRole, OperatorTokens
from sinks.web.sessions import SESSION_COOKIE, load_or_create_key, read_session
from sinks.web.users import Users
from sitrep.settings import Settings

__all__ = [
    "ANONYMOUS",
    "Authenticator",
    "Caller",
    "LoginRequired",
    "Via",
    "authenticator_from_settings",
    "exposure_warning",
    "install_auth",
    "require",
]

ANONYMOUS: Final = "anonymous"

bearer_scheme = HTTPBearer(auto_error=False, description="operator token (sitrep operators add)")
session_scheme = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="session of POST /v1/login"
)


class Via(StrEnum):
    TOKEN = "token"
    SESSION = "session"
    HEADER = "header"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Caller:
    name: str
    role: OperatorRole
    via: Via


@dataclass(frozen=True)
class Authenticator:
    tokens: OperatorTokens
    users: Users
    # Read (or made) on first use: an app that never sees a login leaves HOME alone.
    session_key_source: Callable[[], bytes]
    session_lifetime: timedelta
    trusted_header: str | None
    anonymous_role: OperatorRole | None

    @functools.cached_property
    def session_key(self) -> bytes:
        return self.session_key_source()

    def resolve(
        self,
        bearer_token: str | None,
        session_cookie: str | None,
        header_user: str | None,
        now: datetime,
    ) -> Caller | None:
        """The caller these credentials make, in the order of the module docstring."""
        if bearer_token is not None:
            grant = self.tokens.authenticate(bearer_token)
            if grant is None:
                raise ApiProblem(401, "token_unknown")
            return Caller(grant.name, grant.role, Via.TOKEN)
        claims = read_session(session_cookie, self.session_key, now) if session_cookie else None
        account = self.users.find(claims.user) if claims is not None else None
        if account is not None:
            return Caller(account.name, account.role, Via.SESSION)
        if self.trusted_header is not None and header_user:
            account = self.users.find(header_user.strip())
            if account is None:
                raise ApiProblem(401, "user_unknown", user=header_user.strip())
            return Caller(account.name, account.role, Via.HEADER)
        if self.anonymous_role is not None:
            return Caller(ANONYMOUS, self.anonymous_role, Via.ANONYMOUS)
        return None


def anonymous_role(settings: Settings) -> OperatorRole | None:
    configured = settings.web.anonymous_role
    return None if configured == "none" else OperatorRole(configured)


def session_key(settings: Settings) -> bytes:
    secret = settings.web.session_secret
    if secret is not None:
        return secret.get_secret_value().encode("utf-8")
    return load_or_create_key(settings.web.session_key_path(settings.home))


def authenticator_from_settings(settings: Settings) -> Authenticator:
    web = settings.web
    return Authenticator(
        tokens=OperatorTokens(web.tokens_path(settings.home)),
        users=Users(web.users_path(settings.home)),
        session_key_source=functools.partial(session_key, settings),
        session_lifetime=timedelta(hours=web.session_hours),
        trusted_header=web.trusted_user_header,
        anonymous_role=anonymous_role(settings),
    )


def exposure_warning(bind_host: str, anonymous: str) -> str | None:
    """A warning when requests without credentials get a role on more than this machine."""
    loopback = bind_host in ("127.0.0.1", "::1", "localhost")
    if loopback or anonymous == "none":
        return None
    return (
        f"anonymous callers have the {anonymous} role and the service listens on {bind_host}; "
        "set SITREP_WEB__ANONYMOUS_ROLE=none unless only the operations room can reach it"
    )


class LoginRequired(ApiProblem):
    """401; a browser navigating to a page gets the login page instead (see install_auth)."""

    def __init__(self) -> None:
        super().__init__(401, "login_required")


def wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def login_location(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def install_auth(app: FastAPI, authenticator: Authenticator) -> None:
    app.state.auth = authenticator
    problem_handler = app.exception_handlers[ApiProblem]

    async def _login_required(request: Request, exc: Exception) -> Response:
        if wants_html(request):
            return RedirectResponse(login_location(request), status_code=303)
        answer = problem_handler(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(LoginRequired, _login_required)


def check_role(caller: Caller | None, required: OperatorRole) -> Caller:
    if caller is None or (caller.via is Via.ANONYMOUS and not caller.role.includes(required)):
        raise LoginRequired()
    if not caller.role.includes(required):
        raise ApiProblem(
            403, "role_missing", role=required.value, user=caller.name, current=caller.role.value
        )
    return caller


@functools.cache  # one dependency per role: FastAPI then resolves the caller once per request
def require(role: OperatorRole) -> Callable[..., Caller]:
    """A FastAPI dependency: the caller, if their role includes ``role``."""

    def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        session: Annotated[str | None, Depends(session_scheme)],
    ) -> Caller:
        authenticator: Authenticator = request.app.state.auth
        header = authenticator.trusted_header
        caller = authenticator.resolve(
            bearer.credentials if bearer is not None else None,
            session,
            request.headers.get(header) if header is not None else None,
            datetime.now(UTC),
        )
        return check_role(caller, role)

    dependency.__name__ = f"require_{role.value}"
    return dependency
