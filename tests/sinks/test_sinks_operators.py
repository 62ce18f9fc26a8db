"""Operator tokens: stored hashed, checked by role, revocation seen without a restart."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from sinks.web.operators import (
    OperatorRole,
    OperatorTokens,
    add_operator,
    load_operator_file,
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
    assert found.may(OperatorRole.ANALYST)  # roles are a scale: a commander is an analyst too
    assert not found.may(OperatorRole.ADMIN)
    assert tokens.authenticate(token + "x") is None
    assert revoke_operator(path, grant.token_id)
    os.utime(path, (1, 1))  # a distinct mtime even within the file system's resolution
    assert tokens.authenticate(token) is None
    assert not revoke_operator(path, grant.token_id)


def test_roles_are_an_ordered_scale() -> None:
    viewer, analyst, commander, admin = (
        OperatorRole.VIEWER,
        OperatorRole.ANALYST,
        OperatorRole.COMMANDER,
        OperatorRole.ADMIN,
    )
    assert list(OperatorRole) == [viewer, analyst, commander, admin]
    assert all(role.includes(role) for role in OperatorRole)
    assert admin.includes(commander) and commander.includes(analyst) and analyst.includes(viewer)
    assert not viewer.includes(analyst) and not commander.includes(admin)


def test_token_files_written_before_the_scale_still_load(tmp_path: Path) -> None:
    path = tmp_path / "operators.yaml"
    path.write_text(
        "operators:\n"
        "- token_id: op-0123abcd\n"
        f"  sha256: '{'a' * 64}'\n"
        "  name: Kabag Ops\n"
        "  roles: [analyst, commander]\n"
        "  created_at: '2024-11-27T08:00:00+08:00'\n"
    )
    [grant] = load_operator_file(path).operators
    assert grant.role is OperatorRole.COMMANDER  # the highest of the listed roles
