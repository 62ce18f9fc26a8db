"""People who log in to the web service: name, role and a scrypt hash of their password.

Stored in a YAML file (``SITREP_WEB__USERS_FILE``, default HOME/web/users.yaml) readable by its
owner only, managed with ``sitrep users add|list|remove``; the service re-reads it when it
changes, so a removed user is refused from the next request on.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Timestamp
from sinks.web.operators import OperatorRole
from sitrep.private_files import FollowedFile, read_yaml, write_private_yaml

__all__ = [
    "PasswordHash",
    "UserAccount",
    "UserFile",
    "Users",
    "add_user",
    "hash_password",
    "load_user_file",
    "remove_user",
    "verify_password",
]

# scrypt cost: 2**14 * 8 * 128 bytes = 16 MiB and ~50 ms per try on a small server, which makes
# guessing from a stolen file slow and a login still quick. Stored per hash so it can be raised.
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
KEY_BYTES: Final = 32
SALT_BYTES: Final = 16
MIN_PASSWORD_LENGTH: Final = 8
# Names go into logs, audit records and acknowledged_by; printable and without separators.
USER_NAME_PATTERN: Final = r"^[\w][\w .@'-]{0,63}$"

_FILE_HEADER: Final = (
    "# sitrep web users. Passwords are stored as scrypt hashes (salt and cost per user).\n"
    "# Manage with `sitrep users add|list|remove`.\n"
)


class PasswordHash(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    algorithm: Literal["scrypt"] = "scrypt"
    n: int = Field(ge=2, description="CPU/memory cost, a power of two")
    r: int = Field(ge=1)
    p: int = Field(ge=1)
    salt: str = Field(description="base64")
    key: str = Field(description="base64 of the derived key")


class UserAccount(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=USER_NAME_PATTERN)
    role: OperatorRole
    password: PasswordHash
    created_at: Timestamp


class UserFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    users: tuple[UserAccount, ...] = ()

    def find(self, name: str) -> UserAccount | None:
        return next((user for user in self.users if user.name == name), None)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # maxmem: room for the stored cost with some headroom (OpenSSL's default is 32 MiB).
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=256 * n * r + 2**20
    )


def hash_password(
    password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P
) -> PasswordHash:
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, n, r, p, KEY_BYTES)
    return PasswordHash(n=n, r=r, p=p, salt=_b64(salt), key=_b64(key))


def verify_password(password: str, stored: PasswordHash) -> bool:
    expected = base64.b64decode(stored.key)
    derived = _derive(
        password, base64.b64decode(stored.salt), stored.n, stored.r, stored.p, len(expected)
    )
    return hmac.compare_digest(derived, expected)


def new_user(name: str, role: OperatorRole, password: str, created_at: datetime) -> UserAccount:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    return UserAccount(
        name=name, role=role, password=hash_password(password), created_at=created_at
    )


def load_user_file(path: Path) -> UserFile:
    return UserFile.model_validate(read_yaml(path))


def add_user(path: Path, account: UserAccount, *, replace: bool = False) -> None:
    """Add ``account``; with ``replace`` an existing user of that name is overwritten (a new
    password or role), otherwise that is an error."""
    current = load_user_file(path)
    if current.find(account.name) is not None and not replace:
        raise ValueError(f"user {account.name!r} exists already")
    others = tuple(user for user in current.users if user.name != account.name)
    write_private_yaml(path, _FILE_HEADER, UserFile(users=(*others, account)))


def remove_user(path: Path, name: str) -> bool:
    current = load_user_file(path)
    kept = tuple(user for user in current.users if user.name != name)
    if len(kept) == len(current.users):
        return False
    write_private_yaml(path, _FILE_HEADER, UserFile(users=kept))
    return True


@functools.cache
def _decoy() -> PasswordHash:
    """Verified when the name is unknown, so a wrong name costs as long as a wrong password
    and the answer time does not tell which names exist."""
    return hash_password(secrets.token_urlsafe(16))


class Users:
    """The users file as the web service sees it: re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = FollowedFile(path, load_user_file, UserFile())

    def find(self, name: str) -> UserAccount | None:
        return self._file.current().find(name)

    def authenticate(self, name: str, password: str) -> UserAccount | None:
        account = self.find(name)
        matches = verify_password(password, account.password if account else _decoy())
        return account if matches and account is not None else None
