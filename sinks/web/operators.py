"""Operator tokens of the web service (``Authorization: Bearer``, for scripts and the board),
and the roles every caller of the web service has (``OperatorRole``).

Stored hashed (sha256) in a YAML file (``SITREP_WEB__TOKENS_FILE``), like the intake's unit
tokens; the token itself is shown once by ``sitrep operators add``. Re-read when it changes.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Timestamp
from sitrep.private_files import FollowedFile, read_yaml, write_private_yaml

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
    """Who may do what in the web service, as a scale: each role includes those before it.
    The values are stored in the token and user files, so they never change."""

    VIEWER = "viewer"  # the board and the reports feed
    ANALYST = "analyst"  # + search, report detail, export, daily report, alert lists
    COMMANDER = "commander"  # + acknowledge alerts, add and remove silences
    ADMIN = "admin"  # + rules, tokens and users

    @property
    def rank(self) -> int:
        return _ROLE_SCALE.index(self)

    def includes(self, required: OperatorRole) -> bool:
        return self.rank >= required.rank


_ROLE_SCALE: Final = tuple(OperatorRole)


class OperatorGrant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: str = Field(pattern=r"^op-[0-9a-f]{8,}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str = Field(min_length=1, max_length=128)
    roles: tuple[OperatorRole, ...] = Field(min_length=1)
    created_at: Timestamp

    @property
    def role(self) -> OperatorRole:
        """The highest of its roles (older files may list several)."""
        return max(self.roles, key=lambda role: role.rank)

    def may(self, role: OperatorRole) -> bool:
        return self.role.includes(role)


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
    return OperatorFile.model_validate(read_yaml(path))


def _save(path: Path, content: OperatorFile) -> None:
    write_private_yaml(path, _FILE_HEADER, content)


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
        self._by_hash: FollowedFile[dict[str, OperatorGrant]] = FollowedFile(
            path, _grants_by_hash, {}
        )

    def authenticate(self, token: str) -> OperatorGrant | None:
        # A dictionary lookup of the sha256: its timing says nothing about the token itself.
        return self._by_hash.current().get(_digest(token))


def _grants_by_hash(path: Path) -> dict[str, OperatorGrant]:
    return {grant.sha256: grant for grant in load_operator_file(path).operators}
