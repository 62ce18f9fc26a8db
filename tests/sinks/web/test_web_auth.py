"""Who a request is, without a server: password hashes, session cookies, the order in which
credentials count, role checks, and `sitrep users`."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from sinks.web.auth import (
    Authenticator,
    Caller,
    LoginRequired,
    Via,
    check_role,
    exposure_warning,
)
from sinks.web.errors import ApiProblem
from sinks.web.operators import OperatorRole, OperatorTokens, add_operator, new_operator_grant
from sinks.web.sessions import load_or_create_key, read_session, sign_session
from sinks.web.users import (
    UserFile,
    Users,
    add_user,
    hash_password,
    load_user_file,
    new_user,
    remove_user,
    verify_password,
)

NOW = datetime(2024, 11, 27, 2, 0, tzinfo=UTC)
KEY = b"k" * 32
PASSWORD = "pemilu-aman-2024"


# --- passwords ------------------------------------------------------------------------------


def test_a_password_hash_is_salted_scrypt_with_its_parameters() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.algorithm == "scrypt" and (first.n, first.r, first.p) == (2**14, 8, 1)
    assert first.salt != second.salt and first.key != second.key
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + "!", first)
    assert not verify_password("", first)


def test_stored_cost_parameters_are_the_ones_verified_with() -> None:
    cheap = hash_password(PASSWORD, n=2**10, r=4, p=2)
    assert (cheap.n, cheap.r, cheap.p) == (2**10, 4, 2)
    assert verify_password(PASSWORD, cheap)


def test_the_users_file_holds_hashes_only_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "web" / "users.yaml"
    add_user(path, new_user("Kabag Ops", OperatorRole.COMMANDER, PASSWORD, NOW))
    text = path.read_text()
    assert PASSWORD not in text and "scrypt" in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    [account] = load_user_file(path).users
    assert (account.name, account.role) == ("Kabag Ops", OperatorRole.COMMANDER)


def test_users_are_added_replaced_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    add_user(path, new_user("analis", OperatorRole.ANALYST, PASSWORD, NOW))
    with pytest.raises(ValueError, match="exists"):
        add_user(path, new_user("analis", OperatorRole.ADMIN, PASSWORD, NOW))
    add_user(path, new_user("analis", OperatorRole.ADMIN, "baru-sekali-123", NOW), replace=True)
    users = Users(path)
    assert users.authenticate("analis", "baru-sekali-123") is not None
    assert users.authenticate("analis", PASSWORD) is None
    assert remove_user(path, "analis") and not remove_user(path, "analis")
    os.utime(path, (1, 1))  # a distinct mtime even within the file system's resolution
    assert users.find("analis") is None
    assert load_user_file(path) == UserFile()


def test_short_passwords_and_odd_names_are_refused() -> None:
    with pytest.raises(ValueError, match="8 characters"):
        new_user("analis", OperatorRole.ANALYST, "pendek", NOW)
    with pytest.raises(ValueError):
        new_user("analis\nadmin", OperatorRole.ANALYST, PASSWORD, NOW)


def test_unknown_users_and_wrong_passwords_both_fail(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    users = Users(path)
    assert users.authenticate("siapa", PASSWORD) is None  # no file yet
    add_user(path, new_user("komandan", OperatorRole.COMMANDER, PASSWORD, NOW))
    found = users.authenticate("komandan", PASSWORD)
    assert found is not None and found.role is OperatorRole.COMMANDER
    assert users.authenticate("komandan", "salah-salah") is None
    assert users.authenticate("Komandan", PASSWORD) is None  # names are exact


# --- session cookies --------------------------------------------------------------------------


def test_a_session_cookie_names_its_user_until_it_expires() -> None:
    cookie = sign_session("komandan", NOW + timedelta(hours=12), KEY)
    claims = read_session(cookie, KEY, NOW)
    assert claims is not None and claims.user == "komandan"
    assert claims.expires_at == NOW + timedelta(hours=12)
    assert read_session(cookie, KEY, NOW + timedelta(hours=11, minutes=59)) is not None
    assert read_session(cookie, KEY, NOW + timedelta(hours=12)) is None


def test_a_tampered_or_foreign_cookie_is_worthless() -> None:
    cookie = sign_session("analis", NOW + timedelta(hours=1), KEY)
    payload, signature = cookie.split(".")
    other = sign_session("admin", NOW + timedelta(hours=1), KEY).split(".")[0]
    assert read_session(f"{other}.{signature}", KEY, NOW) is None  # someone else's name
    assert read_session(f"{payload}.{signature[:-2]}AA", KEY, NOW) is None
    assert read_session(cookie, b"another key" * 3, NOW) is None
    for garbage in ("", ".", "abc", "abc.", ".abc", "ä.ö", f"{payload}"):
        assert read_session(garbage, KEY, NOW) is None


def test_the_generated_session_key_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "web" / "session.key"
    key = load_or_create_key(path)
    assert len(key) >= 32 and load_or_create_key(path) == key
    assert oct(path.stat().st_mode & 0o777) == "0o600"


# --- who is calling -----------------------------------------------------------------------------


@pytest.fixture
def make_authenticator(tmp_path: Path) -> Callable[..., Authenticator]:
    tokens = tmp_path / "operators.yaml"
    users = tmp_path / "users.yaml"
    add_user(users, new_user("komandan", OperatorRole.COMMANDER, PASSWORD, NOW))
    add_user(users, new_user("pemantau", OperatorRole.VIEWER, PASSWORD, NOW))

    def build(
        trusted_header: str | None = None, anonymous: OperatorRole | None = OperatorRole.VIEWER
    ) -> Authenticator:
        return Authenticator(
            tokens=OperatorTokens(tokens),
            users=Users(users),
            session_key_source=lambda: KEY,
            session_lifetime=timedelta(hours=12),
            trusted_header=trusted_header,
            anonymous_role=anonymous,
        )

    return build


def analyst_token(tmp_path: Path) -> str:
    token, grant = new_operator_grant("Analis Ops", (OperatorRole.ANALYST,), NOW)
    add_operator(tmp_path / "operators.yaml", grant)
    return token


def test_credentials_count_in_order_token_session_header_anonymous(
    make_authenticator: Callable[..., Authenticator], tmp_path: Path
) -> None:
    auth = make_authenticator(trusted_header="X-Forwarded-User")
    token = analyst_token(tmp_path)
    cookie = sign_session("komandan", NOW + timedelta(hours=1), KEY)

    def who(*credentials: str | None) -> Caller | None:
        return auth.resolve(*credentials, now=NOW)

    assert who(token, cookie, "pemantau") == Caller("Analis Ops", OperatorRole.ANALYST, Via.TOKEN)
    assert who(None, cookie, "pemantau") == Caller("komandan", OperatorRole.COMMANDER, Via.SESSION)
    assert who(None, None, "pemantau") == Caller("pemantau", OperatorRole.VIEWER, Via.HEADER)
    assert who(None, None, None) == Caller("anonymous", OperatorRole.VIEWER, Via.ANONYMOUS)


def test_an_unknown_token_is_refused_not_ignored(
    make_authenticator: Callable[..., Authenticator],
) -> None:
    with pytest.raises(ApiProblem) as refused:
        make_authenticator().resolve("sitrep_op_nope", None, None, NOW)
    assert (refused.value.status, refused.value.code) == (401, "token_unknown")


def test_a_stale_cookie_or_a_removed_user_falls_through_to_the_next_credential(
    make_authenticator: Callable[..., Authenticator], tmp_path: Path
) -> None:
    auth = make_authenticator()
    expired = sign_session("komandan", NOW - timedelta(seconds=1), KEY)
    assert auth.resolve(None, expired, None, NOW) == Caller(
        "anonymous", OperatorRole.VIEWER, Via.ANONYMOUS
    )
    removed = sign_session("komandan", NOW + timedelta(hours=1), KEY)
    remove_user(tmp_path / "users.yaml", "komandan")
    os.utime(tmp_path / "users.yaml", (1, 1))
    assert auth.resolve(None, removed, None, NOW) == Caller(
        "anonymous", OperatorRole.VIEWER, Via.ANONYMOUS
    )


def test_the_proxy_header_counts_only_when_configured_and_only_for_known_users(
    make_authenticator: Callable[..., Authenticator],
) -> None:
    off = make_authenticator(trusted_header=None, anonymous=None)
    assert off.resolve(None, None, "komandan", NOW) is None
    on = make_authenticator(trusted_header="X-Forwarded-User", anonymous=None)
    caller = on.resolve(None, None, " komandan ", NOW)
    assert caller == Caller("komandan", OperatorRole.COMMANDER, Via.HEADER)
    with pytest.raises(ApiProblem) as refused:
        on.resolve(None, None, "mallory", NOW)
    assert (refused.value.status, refused.value.code) == (401, "user_unknown")


def test_serving_anonymous_roles_beyond_this_machine_is_warned_about() -> None:
    assert exposure_warning("127.0.0.1", "viewer") is None
    assert exposure_warning("0.0.0.0", "none") is None
    warning = exposure_warning("0.0.0.0", "viewer")
    assert warning is not None and "SITREP_WEB__ANONYMOUS_ROLE=none" in warning


def test_role_checks_say_401_to_strangers_and_403_to_the_known() -> None:
    anonymous = Caller("anonymous", OperatorRole.VIEWER, Via.ANONYMOUS)
    analyst = Caller("analis", OperatorRole.ANALYST, Via.SESSION)
    assert check_role(anonymous, OperatorRole.VIEWER) is anonymous
    with pytest.raises(LoginRequired):
        check_role(anonymous, OperatorRole.ANALYST)
    with pytest.raises(LoginRequired):
        check_role(None, OperatorRole.VIEWER)
    assert check_role(analyst, OperatorRole.ANALYST) is analyst
    with pytest.raises(ApiProblem) as refused:
        check_role(analyst, OperatorRole.COMMANDER)
    assert refused.value.status == 403
    assert refused.value.params == {"role": "commander", "user": "analis", "current": "analyst"}


# --- sitrep users ---------------------------------------------------------------------------


def test_users_cli_adds_lists_and_removes(tmp_path: Path) -> None:
    from sitrep.cli import main

    env = {"SITREP_HOME": str(tmp_path)}
    runner = CliRunner()
    typed = runner.invoke(
        main,
        ["users", "add", "Kabag Ops", "--role", "commander"],
        input=f"{PASSWORD}\n" * 2,
        env=env,
    )
    assert typed.exit_code == 0, typed.output
    assert PASSWORD not in typed.output
    piped = runner.invoke(
        main,
        ["users", "add", "analis", "--role", "analyst", "--password-stdin"],
        input=PASSWORD,
        env=env,
    )
    assert piped.exit_code == 0, piped.output
    again = runner.invoke(
        main,
        ["users", "add", "analis", "--role", "admin", "--password-stdin"],
        input=PASSWORD,
        env=env,
    )
    assert again.exit_code != 0 and "--replace" in again.output
    mistyped = runner.invoke(
        main,
        ["users", "add", "x1", "--role", "viewer"],
        input=f"{PASSWORD}\nlain-lain-1\n" * 2,
        env=env,
    )
    assert mistyped.exit_code != 0 and "do not match" in mistyped.output
    listed = runner.invoke(main, ["users", "list"], env=env)
    assert "Kabag Ops" in listed.output and "commander" in listed.output
    assert "analis" in listed.output and "scrypt" not in listed.output
    assert runner.invoke(main, ["users", "remove", "analis"], env=env).exit_code == 0
    assert runner.invoke(main, ["users", "remove", "analis"], env=env).exit_code != 0
    users = Users(tmp_path / "web" / "users.yaml")
    assert users.authenticate("Kabag Ops", PASSWORD) is not None
    assert users.find("analis") is None
