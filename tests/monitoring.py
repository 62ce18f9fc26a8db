"""A monitoring token for the worker, indexer and notifier processes tests start (their pages,
all but the health checks, need one), and the check every such server must pass."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import httpx

from sitrep.monitoring import add_monitoring_token, new_monitoring_grant


@cache
def _credentials() -> tuple[Path, str]:
    """One tokens file (and its token) for the whole test session."""
    folder = Path(tempfile.mkdtemp(prefix="sitrep-monitoring-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    token, grant = new_monitoring_grant("tests", datetime.now(UTC))
    path = folder / "tokens.yaml"
    add_monitoring_token(path, grant)
    return path, token


def monitoring_env() -> dict[str, str]:
    """The environment that makes a role accept ``monitoring_auth()``."""
    return {"SITREP_MONITORING__TOKENS_FILE": str(_credentials()[0])}


def monitoring_auth(scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {_credentials()[1]}"}


WRONG_TOKEN = {"Authorization": "Bearer sitrep_mon_" + "x" * 43}


def assert_monitoring_access(base: str, protected: list[str], public: list[str]) -> None:
    """Every protected page: 401 without a token and with a wrong one, 200 with the right one;
    every public page (health): never 401, whatever is sent."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for path in protected:
            missing = client.get(path)
            assert missing.status_code == 401, (path, missing.status_code, missing.text)
            assert missing.headers["WWW-Authenticate"] == "Bearer"
            body = missing.json()
            assert body["error"] == "unauthorized" and body["pesan"] and body["message"], body
            for headers in (WRONG_TOKEN, monitoring_auth("Basic")):
                wrong = client.get(path, headers=headers)
                assert wrong.status_code == 401, (path, wrong.status_code, wrong.text)
            right = client.get(path, headers=monitoring_auth())
            assert right.status_code == 200, (path, right.status_code, right.text)
        for path in public:
            for headers in ({}, WRONG_TOKEN, monitoring_auth()):
                answer = client.get(path, headers=headers)
                assert answer.status_code in (200, 503), (path, answer.status_code, answer.text)
