"""Monitoring tokens: what Prometheus (or an operator's ``curl``) shows to read the worker's web
pages and the metrics servers of the indexer and the notifier.

Stored like the intake's and the web service's tokens: 32 random bytes, of which only the
sha256 (``producers.tokens.hash_token``) is kept, in an owner-only YAML file
(``SITREP_MONITORING__TOKENS_FILE``, default ``HOME/monitoring/tokens.yaml``) that
``sitrep monitoring token add`` writes; the token itself is shown once. The servers re-read the
file when it changes.

Every page of those servers except the health checks (``PUBLIC_PATHS``) needs
``Authorization: Bearer <token>``; a missing or unknown token is answered with 401 and a JSON
body in Indonesian and English. Without a token file nothing but the health checks is served
(fail closed; docs/security.md).
"""

from __future__ import annotations

import hmac
import json
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field

from producers.tokens import hash_token, mint_token
from schemas.common import Timestamp
from sitrep.private_files import FollowedFile, read_yaml, write_private_yaml

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from sitrep.settings import Settings

__all__ = [
    "PUBLIC_PATHS",
    "MonitoringFile",
    "MonitoringGrant",
    "MonitoringTokens",
    "Refusal",
    "add_monitoring_token",
    "aiohttp_middleware",
    "load_monitoring_file",
    "new_monitoring_grant",
    "revoke_monitoring_token",
    "serve_metrics",
]

log = structlog.get_logger("sitrep.monitoring")

TOKEN_PREFIX: Final = "sitrep_mon_"
# Health checks answer without a token: probes and supervisors carry none.
PUBLIC_PATHS: Final = frozenset({"/healthz", "/livez", "/readyz"})


class MonitoringGrant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: str = Field(pattern=r"^mon-[0-9a-f]{8,}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str = Field(min_length=1, max_length=128)
    created_at: Timestamp


class MonitoringFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: tuple[MonitoringGrant, ...] = ()


def new_monitoring_grant(name: str, created_at: datetime) -> tuple[str, MonitoringGrant]:
    """A fresh token and its grant (the token is not kept anywhere)."""
    token, token_id, sha256 = mint_token(TOKEN_PREFIX, "mon")
    grant = MonitoringGrant(token_id=token_id, sha256=sha256, name=name, created_at=created_at)
    return token, grant


def load_monitoring_file(path: Path) -> MonitoringFile:
    """The grants in ``path``; a missing file means no tokens."""
    return MonitoringFile.model_validate(read_yaml(path))


def _save(path: Path, tokens: tuple[MonitoringGrant, ...]) -> None:
    header = (
        "# sitrep monitoring tokens (worker pages, indexer and notifier metrics). Only the\n"
        "# sha256 of each token is stored; the token was shown once by `sitrep monitoring\n"
        "# token add`. Revoke with `sitrep monitoring token revoke ID`.\n"
    )
    write_private_yaml(path, header, MonitoringFile(tokens=tokens))


def add_monitoring_token(path: Path, grant: MonitoringGrant, *, replace: bool = False) -> None:
    """Add ``grant``; with ``replace`` the tokens of the same name go (the demo's, each run)."""
    kept = load_monitoring_file(path).tokens
    if replace:
        kept = tuple(g for g in kept if g.name != grant.name)
    _save(path, (*kept, grant))


def revoke_monitoring_token(path: Path, token_id: str) -> bool:
    current = load_monitoring_file(path).tokens
    kept = tuple(g for g in current if g.token_id != token_id)
    if len(kept) == len(current):
        return False
    _save(path, kept)
    return True


# --- checking requests ------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """The answer to a request without a valid token: 401, a JSON body worded like the
    intake's (``pesan`` in Indonesian, ``message`` in English)."""

    body: Mapping[str, str]
    status: int = 401
    headers: Mapping[str, str] = field(default_factory=lambda: {"WWW-Authenticate": "Bearer"})

    def content(self) -> bytes:
        return json.dumps(dict(self.body)).encode()


MISSING_TOKEN: Final = Refusal(
    {
        "error": "unauthorized",
        "pesan": "Token pemantauan tidak ada (Authorization: Bearer).",
        "message": "Missing monitoring token (Authorization: Bearer).",
    }
)
UNKNOWN_TOKEN: Final = Refusal(
    {
        "error": "unauthorized",
        "pesan": "Token pemantauan tidak dikenal atau sudah dicabut.",
        "message": "Unknown or revoked monitoring token.",
    }
)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme in any case)."""
    scheme, _, credentials = (authorization or "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials


class MonitoringTokens:
    """The monitoring tokens of one server, followed: an added or revoked token counts from
    the next request on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._grants: FollowedFile[tuple[MonitoringGrant, ...]] = FollowedFile(
            path, lambda file: load_monitoring_file(file).tokens, ()
        )

    @classmethod
    def of(cls, settings: Settings, role: str) -> MonitoringTokens:
        """The tokens the settings name; says so at start when there are none."""
        tokens = cls(settings.monitoring.tokens_path(settings.home))
        if not tokens.grants():
            log.warning(
                "no monitoring tokens: every page but the health checks answers 401 until "
                "one is added with `sitrep monitoring token add --name prometheus`",
                role=role,
                tokens_file=str(tokens.path),
            )
        return tokens

    def grants(self) -> tuple[MonitoringGrant, ...]:
        try:
            return self._grants.current()
        except (OSError, ValueError, yaml.YAMLError) as exc:
            # Half-written or broken: nobody gets in until it is fixed (fail closed). The
            # error's text is not logged: a validation error would quote the file's hashes.
            log.error(
                "monitoring tokens file not readable; `sitrep monitoring token list` shows why",
                tokens_file=str(self.path),
                error=type(exc).__name__,
            )
            return ()

    def authenticate(self, token: str) -> MonitoringGrant | None:
        digest = hash_token(token)
        found = None
        # Every stored digest is compared, each in constant time: the time taken says nothing
        # about which token, or how much of one, matched.
        for grant in self.grants():
            if hmac.compare_digest(grant.sha256, digest):
                found = grant
        return found

    def refusal(self, path: str, authorization: str | None) -> Refusal | None:
        """None when the request may be served: a health check, or a known token."""
        if path in PUBLIC_PATHS:
            return None
        token = bearer_token(authorization)
        if token is None:
            return MISSING_TOKEN
        return None if self.authenticate(token) is not None else UNKNOWN_TOKEN


# --- the servers ------------------------------------------------------------------------------


def aiohttp_middleware(tokens: MonitoringTokens) -> Any:
    """An aiohttp middleware (the Faust worker's web server) that answers every request
    ``tokens`` refuses itself, before any page (Faust's own included) sees it."""
    from aiohttp import web

    @web.middleware
    async def require_monitoring_token(request: web.Request, handler: Any) -> web.StreamResponse:
        refused = tokens.refusal(request.path, request.headers.get("Authorization"))
        if refused is not None:
            return web.Response(
                body=refused.content(),
                status=refused.status,
                headers=refused.headers,
                content_type="application/json",
            )
        response: web.StreamResponse = await handler(request)
        return response

    return require_monitoring_token


Page = Callable[[], tuple[int, str, bytes]]  # -> status, content type, body


def serve_metrics(
    host: str,
    port: int,
    registry: CollectorRegistry,
    healthy: Callable[[], bool],
    tokens: MonitoringTokens,
    name: str,
) -> ThreadingHTTPServer:
    """Start ``/metrics`` (Prometheus text of ``registry``, with a monitoring token) and
    ``/healthz`` (200 while ``healthy()``, else 503; no token) in a daemon thread named
    ``name``; ``shutdown()`` stops it. The indexer's and the notifier's server."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    def health() -> tuple[int, str, bytes]:
        return (200, "text/plain", b"ok\n") if healthy() else (503, "text/plain", b"stalled\n")

    pages: dict[str, Page] = {
        "/metrics": lambda: (200, CONTENT_TYPE_LATEST, generate_latest(registry)),
        "/healthz": health,
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            refused = tokens.refusal(path, self.headers.get("Authorization"))
            if refused is not None:
                self._answer(refused.status, "application/json", refused.content(), refused.headers)
            elif path in pages:
                self._answer(*pages[path]())
            else:
                self._answer(404, "text/plain", b"not found\n")

        def _answer(
            self,
            status: int,
            content_type: str,
            body: bytes,
            headers: Mapping[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for header, value in (headers or {}).items():
                self.send_header(header, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None  # no access log

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True

    server = Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server
