"""Operator tokens: stored hashed, checked by role, revocation seen without a restart."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from sinks.web.operators import (
    OperatorRole,
    OperatorTokens,
    add_operator,
    new_operator_grant,
    revoke_operator,
)

NOW = datetime(2024, 11, 27, tzinfo=UTC)


def test_tokens_are_stored_hashed_and_private(tmp_path: Path) -> None:
    path = tmp_path / "operators.yaml"
    token, grant = new_operator_grant("Kapolres", (OperatorRole.COMMANDER,), NOW)
    add_operator(path, grant)
    text = path.read_text()
    assert token not in text and grant.sha256 in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_authentication_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "operators.yaml"
    tokens = OperatorTokens(path)
    token, grant = new_operator_grant("Kapolres", (OperatorRole.COMMANDER,), NOW)
    assert tokens.authenticate(token) is None  # no file yet
    add_operator(path, grant)
    found = tokens.authenticate(token)
    assert found is not None and found.may(OperatorRole.COMMANDER)
    assert not found.may(OperatorRole.ANALYST)
    assert tokens.authenticate(token + "x") is None
    assert revoke_operator(path, grant.token_id)
    os.utime(path, (1, 1))  # a distinct mtime even within the file system's resolution
    assert tokens.authenticate(token) is None
    assert not revoke_operator(path, grant.token_id)
