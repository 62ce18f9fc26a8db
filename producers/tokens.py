"""Per-unit API tokens for the HTTP intake, stored hashed (sha256) in a YAML file.

A token is 32 random bytes (URL-safe base64) shown once when it is created; the file only
holds its sha256, so a leaked file does not leak a usable token. Each token is bound to a
reporter unit and role, and optionally to the regencies (district codes) it may report for.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Final

import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Timestamp
from schemas.registry import AreaLevel, AreaRegistry
from schemas.report import NonBlankText, ReporterRole

log = structlog.get_logger("producers.tokens")

TOKEN_PREFIX: Final = "sitrep_"
_FILE_HEADER: Final = (
    "# sitrep intake API tokens. Only the sha256 of each token is stored here; the token\n"
    "# itself was shown once by `sitrep intake token add`. Revoke with `sitrep intake token\n"
    "# revoke ID`. The intake re-reads this file when it changes.\n"
)


class TokenGrant(BaseModel):
    """What a token allows: who is reporting, and for which regencies (empty = any)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: str = Field(pattern=r"^tok-[0-9a-f]{8,}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    unit: NonBlankText
    role: ReporterRole
    regencies: tuple[str, ...] = ()
    created_at: Timestamp
    note: str = ""

    def may_report_for(self, district: str) -> bool:
        return not self.regencies or district in self.regencies


class TokenFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: tuple[TokenGrant, ...] = ()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def mint_token(prefix: str, id_prefix: str) -> tuple[str, str, str]:
    """A new token (``prefix`` + 32 random bytes), an id to name it by (``id_prefix-`` + 8 hex
    digits) and its sha256: what a hashed token file keeps (the token is shown once)."""
    token = prefix + secrets.token_urlsafe(32)
    return token, f"{id_prefix}-{secrets.token_hex(4)}", hash_token(token)


def make_grant(
    token: str,
    *,
    unit: str,
    role: ReporterRole,
    regencies: Iterable[str],
    registry: AreaRegistry,
    created_at: datetime,
    note: str = "",
) -> TokenGrant:
    """A grant for ``token``; every regency code is checked against the registry."""
    codes = tuple(dict.fromkeys(regencies))
    for code in codes:
        registry.require(code, AreaLevel.REGENCY)  # UnknownAreaError names the bad code
    return TokenGrant(
        token_id=f"tok-{secrets.token_hex(4)}",
        sha256=hash_token(token),
        unit=unit,
        role=role,
        regencies=codes,
        created_at=created_at,
        note=note,
    )


def load_token_file(path: Path) -> TokenFile:
    """The grants in ``path``; a missing file means no tokens (every request is refused)."""
    if not path.exists():
        return TokenFile()
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return TokenFile.model_validate(document)


def save_token_file(path: Path, tokens: TokenFile) -> None:
    """Atomically replace ``path`` (owner read/write only): a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(tokens.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tokens-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(_FILE_HEADER + body)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def add_grant(path: Path, grant: TokenGrant) -> None:
    current = load_token_file(path)
    save_token_file(path, TokenFile(tokens=(*current.tokens, grant)))


def revoke_grant(path: Path, token_id: str) -> bool:
    current = load_token_file(path)
    kept = tuple(grant for grant in current.tokens if grant.token_id != token_id)
    if len(kept) == len(current.tokens):
        return False
    save_token_file(path, TokenFile(tokens=kept))
    return True


class TokenStore:
    """Looks tokens up by hash; re-reads the file when it changed (checked every few seconds)."""

    def __init__(self, path: Path, recheck_s: float = 5.0) -> None:
        self.path = path
        self._recheck_s = recheck_s
        self._checked = 0.0
        self._mtime: float | None = None
        self._by_hash: Mapping[str, TokenGrant] = {}
        self._reload()

    def authenticate(self, token: str) -> TokenGrant | None:
        self._maybe_reload()
        # A dict lookup on the hash: comparing digests, not secrets, leaks nothing useful.
        return self._by_hash.get(hash_token(token))

    @property
    def count(self) -> int:
        return len(self._by_hash)

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked >= self._recheck_s:
            self._checked = now
            if self._current_mtime() != self._mtime:
                try:
                    self._reload()
                except (OSError, ValueError, yaml.YAMLError) as exc:
                    # Half-edited file: keep serving the grants we have, say so loudly.
                    log.error("token file not reloaded", path=str(self.path), error=str(exc))

    def _current_mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except FileNotFoundError:
            return None

    def _reload(self) -> None:
        self._mtime = self._current_mtime()
        grants = load_token_file(self.path).tokens
        self._by_hash = {grant.sha256: grant for grant in grants}
