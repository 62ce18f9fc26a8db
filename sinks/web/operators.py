"""Operator tokens of the web service: who may acknowledge alerts and manage silences.

Stored hashed (sha256) in a YAML file (``SITREP_WEB__TOKENS_FILE``), like the intake's unit
tokens; the token itself is shown once by ``sitrep operators add``. Re-read when it changes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Final

import yaml
from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Timestamp

__all__ = [
    "OperatorFile",
    "OperatorGrant",
    "OperatorRole",
    "OperatorTokens",
    "add_operator",
    "load_operator_file",
    "new_operator_grant",
    "revoke_operator",
]

TOKEN_PREFIX: Final = "sitrep_op_"
_FILE_HEADER: Final = (
    "# sitrep web operator tokens. Only the sha256 of each token is stored; the token was\n"
    "# shown once by `sitrep operators add`. Revoke with `sitrep operators revoke ID`.\n"
)


class OperatorRole(StrEnum):
    COMMANDER = "commander"  # acknowledge alerts, add and remove silences
    ANALYST = "analyst"  # read only


class OperatorGrant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: str = Field(pattern=r"^op-[0-9a-f]{8,}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str = Field(min_length=1, max_length=128)
    roles: tuple[OperatorRole, ...] = Field(min_length=1)
    created_at: Timestamp

    def may(self, role: OperatorRole) -> bool:
        return role in self.roles


class OperatorFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operators: tuple[OperatorGrant, ...] = ()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_operator_grant(
    name: str, roles: tuple[OperatorRole, ...], created_at: datetime
) -> tuple[str, OperatorGrant]:
    """A fresh token and its grant (the token is not kept anywhere)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    grant = OperatorGrant(
        token_id=f"op-{secrets.token_hex(4)}",
        sha256=_digest(token),
        name=name,
        roles=roles,
        created_at=created_at,
    )
    return token, grant


def load_operator_file(path: Path) -> OperatorFile:
    if not path.exists():
        return OperatorFile()
    return OperatorFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def _save(path: Path, content: OperatorFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = yaml.safe_dump(content.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".operators-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(_FILE_HEADER + document)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def add_operator(path: Path, grant: OperatorGrant) -> None:
    current = load_operator_file(path)
    _save(path, OperatorFile(operators=(*current.operators, grant)))


def revoke_operator(path: Path, token_id: str) -> bool:
    current = load_operator_file(path)
    kept = tuple(g for g in current.operators if g.token_id != token_id)
    if len(kept) == len(current.operators):
        return False
    _save(path, OperatorFile(operators=kept))
    return True


class OperatorTokens:
    """Looks tokens up by hash; re-reads the file when its modification time changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: float | None = None
        self._by_hash: dict[str, OperatorGrant] = {}

    def authenticate(self, token: str) -> OperatorGrant | None:
        self._maybe_reload()
        return self._by_hash.get(_digest(token))

    def _maybe_reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._by_hash, self._mtime = {}, None
            return
        if mtime != self._mtime:
            grants = load_operator_file(self.path).operators
            self._by_hash = {grant.sha256: grant for grant in grants}
            self._mtime = mtime
