"""Login sessions of the web service: a cookie naming the user and its expiry, signed with HMAC.

The cookie holds no role: the role is looked up in the users file on every request, so a
changed role or a removed user takes effect at once. The signing key comes from
``SITREP_WEB__SESSION_SECRET`` or is generated once into HOME/web/session.key (owner only);
changing it logs everybody out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

__all__ = [
    "SESSION_COOKIE",
    "SessionClaims",
    "load_or_create_key",
    "read_session",
    "sign_session",
]

SESSION_COOKIE: Final = "sitrep_session"
# Bound into every signature so a MAC made with the same key for another purpose never
# passes as a session.
_PURPOSE: Final = b"sitrep-session-v1."


@dataclass(frozen=True)
class SessionClaims:
    user: str
    expires_at: datetime


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64url(hmac.new(key, _PURPOSE + payload.encode("ascii"), hashlib.sha256).digest())


def sign_session(user: str, expires_at: datetime, key: bytes) -> str:
    body = {"u": user, "exp": int(expires_at.timestamp())}
    payload = _b64url(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    return f"{payload}.{_mac(key, payload)}"


def read_session(value: str, key: bytes, now: datetime) -> SessionClaims | None:
    """The claims of a cookie signed with ``key`` and not expired at ``now``; None for anything
    else (tampered, foreign key, expired, garbage)."""
    payload, _, signature = value.partition(".")
    if not payload or not payload.isascii() or not signature.isascii():
        return None
    if not hmac.compare_digest(_mac(key, payload).encode(), signature.encode()):
        return None
    try:
        body = json.loads(_unb64url(payload))
        claims = SessionClaims(str(body["u"]), datetime.fromtimestamp(int(body["exp"]), UTC))
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    return claims if claims.expires_at > now else None


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``, made on first use; created exclusively, so two processes starting
    together end up with the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _written_key(path)
    key = secrets.token_urlsafe(48).encode("ascii")
    with os.fdopen(handle, "wb") as out:
        out.write(key)
    return key


def _written_key(path: Path, wait_s: float = 2.0) -> bytes:
    # Another process may have created the file a moment ago and not written it yet.
    deadline = time.monotonic() + wait_s
    while not (key := path.read_bytes().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not key:
        raise RuntimeError(f"{path} is empty; delete it to have a new session key made")
    return key
