"""API tokens: hashed at rest, bound to a unit and role, scoped to regencies."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producers.tokens import (
    TokenGrant,
    TokenStore,
    add_grant,
    hash_token,
    load_token_file,
    make_grant,
    new_token,
    revoke_grant,
)
from schemas.registry import AreaRegistry, UnknownAreaError
from schemas.report import ReporterRole

NOW = datetime(2024, 11, 27, tzinfo=UTC)


def grant_for(
    registry: AreaRegistry, token: str, *regencies: str, unit: str = "Polres X"
) -> TokenGrant:
    return make_grant(
        token,
        unit=unit,
        role=ReporterRole.POLRES,
        regencies=regencies,
        registry=registry,
        created_at=NOW,
    )


def test_tokens_are_random_and_stored_only_as_hashes(
    tmp_path: Path, registry: AreaRegistry
) -> None:
    token = new_token()
    assert token != new_token() and len(token) > 40
    path = tmp_path / "tokens.yaml"
    add_grant(path, grant_for(registry, token, "64.71"))
    text = path.read_text()
    assert token not in text
    assert hash_token(token) in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_scope_is_checked_against_the_registry(registry: AreaRegistry) -> None:
    with pytest.raises(UnknownAreaError, match=r"64\.99"):
        grant_for(registry, new_token(), "64.99")
    with pytest.raises(UnknownAreaError):
        grant_for(registry, new_token(), "64.71.01")  # a kecamatan, not a regency


def test_scoped_and_unscoped_grants(registry: AreaRegistry) -> None:
    scoped = grant_for(registry, new_token(), "64.71", "64.72")
    assert scoped.may_report_for("64.71") and scoped.may_report_for("64.72")
    assert not scoped.may_report_for("64.74")
    anywhere = grant_for(registry, new_token())
    assert anywhere.may_report_for("31.71")


def test_store_authenticates_known_tokens_only(tmp_path: Path, registry: AreaRegistry) -> None:
    path = tmp_path / "tokens.yaml"
    token = new_token()
    add_grant(path, grant_for(registry, token, "64.71", unit="Polres Balikpapan"))
    store = TokenStore(path)
    grant = store.authenticate(token)
    assert grant is not None and grant.unit == "Polres Balikpapan"
    assert store.authenticate(token + "x") is None
    assert store.authenticate("") is None


def test_store_sees_added_and_revoked_tokens(tmp_path: Path, registry: AreaRegistry) -> None:
    path = tmp_path / "tokens.yaml"
    store = TokenStore(path, recheck_s=0)
    assert store.count == 0  # a missing file means no tokens
    token = new_token()
    grant = grant_for(registry, token)
    add_grant(path, grant)
    assert store.authenticate(token) is not None
    assert revoke_grant(path, grant.token_id)
    os.utime(path, (1, 1))  # mtime granularity: make sure the change is visible
    assert store.authenticate(token) is None
    assert not revoke_grant(path, grant.token_id)
    assert load_token_file(path).tokens == ()


def test_store_keeps_serving_when_the_file_is_broken(
    tmp_path: Path, registry: AreaRegistry
) -> None:
    path = tmp_path / "tokens.yaml"
    token = new_token()
    add_grant(path, grant_for(registry, token))
    store = TokenStore(path, recheck_s=0)
    path.write_text("tokens: [ {broken")
    assert store.authenticate(token) is not None
