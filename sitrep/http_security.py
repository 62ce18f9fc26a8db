"""What both HTTP services (the intake and the control-room web) answer with, security-wise:
response headers, CORS and the API documentation behind authentication.

The header policy is a pure function of the path (``security_headers``); ``install_*`` are the
thin FastAPI/ASGI adapters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, params
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

__all__ = [
    "API_CSP",
    "DOCS_CSP",
    "PAGES_CSP",
    "add_api_docs",
    "install_cors",
    "install_security_headers",
    "security_headers",
]

# The control-room pages load scripts, styles and data from this service only; no inline
# script or style, no eval, no frames, no plugins. Images: this service, and the empty
# `data:,` icon the pages declare so that browsers do not ask for /favicon.ico.
PAGES_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; media-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# JSON APIs: nothing to load at all.
API_CSP: Final = "default-src 'none'; frame-ancestors 'none'"
# FastAPI's Swagger UI page: an inline bootstrap script and its bundle from jsdelivr.
DOCS_CSP: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATH: Final = "/docs"
OPENAPI_PATH: Final = "/openapi.json"


def security_headers(path: str, *, csp: str, hsts_max_age_s: int = 0) -> dict[str, str]:
    """The headers every response to ``path`` carries. Strict-Transport-Security only when
    configured (``hsts_max_age_s`` > 0: the service is reached over TLS only)."""
    headers = {
        "Content-Security-Policy": DOCS_CSP if path == DOCS_PATH else csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if hsts_max_age_s > 0:
        headers["Strict-Transport-Security"] = f"max-age={hsts_max_age_s}; includeSubDomains"
    return headers


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeadersMiddleware:
    """Adds ``headers_for(path)`` to every HTTP response that does not set them itself.
    Plain ASGI: streamed responses (Server-Sent Events) pass through untouched."""

    def __init__(self, app: ASGIApp, headers_for: Callable[[str], dict[str, str]]) -> None:
        self.app = app
        self.headers_for = headers_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self.headers_for(scope["path"]).items()
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in extra if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI, *, csp: str, hsts_max_age_s: int = 0) -> None:
    def headers_for(path: str) -> dict[str, str]:
        return security_headers(path, csp=csp, hsts_max_age_s=hsts_max_age_s)

    app.add_middleware(SecurityHeadersMiddleware, headers_for=headers_for)


def install_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Cross-origin calls only from the configured origins; with none (the default) no
    Access-Control-Allow-Origin is ever sent, so browsers keep other sites out."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Accept", "Accept-Language"],
        allow_credentials=False,  # tokens in headers, never another site's cookies
        max_age=600,
    )


def add_api_docs(app: FastAPI, dependencies: Sequence[params.Depends], title: str) -> None:
    """``/openapi.json`` and ``/docs`` (Swagger UI) behind the same authentication as the API.
    Create the app with ``openapi_url=None, docs_url=None, redoc_url=None``."""

    @app.get(OPENAPI_PATH, include_in_schema=False, dependencies=list(dependencies))
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(DOCS_PATH, include_in_schema=False, dependencies=list(dependencies))
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=OPENAPI_PATH, title=f"{title} - API")
