#!/usr/bin/env python3
"""Container health check of the sitrep image (installed as ``sitrep-healthcheck``).

Which URL is checked, first match wins:

1. the first argument (``sitrep-healthcheck http://127.0.0.1:6066/healthz``);
2. ``SITREP_HEALTH_URL``;
3. derived from the role the container runs: the sitrep process is found in ``/proc`` and its
   subcommand names the endpoint (intake ``/readyz`` on 8080, worker ``/healthz`` on 6066,
   indexer ``/healthz`` on 9108, notifier ``/healthz`` on 9310, web ``/healthz`` on 8000), on
   the port of the role's ``SITREP_*`` setting or its ``--port``/``--metrics-port`` option.

A command without an HTTP endpoint (``topics ensure``, ``simulate``, ...) is healthy while it
runs; so is a role whose metrics server is turned off (port 0). Exit 0 = healthy, 1 = not.
Standard library only, so it costs nothing but an interpreter start.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT_S = 4.0

# role -> (setting that holds the port, default port, CLI option naming the port, path)
ROLES: dict[str, tuple[str, int, str, str]] = {
    "intake": ("SITREP_INTAKE__PORT", 8080, "--port", "/readyz"),
    "worker": ("SITREP_WORKER__WEB_PORT", 6066, "", "/healthz"),
    "index": ("SITREP_INDEXER__METRICS_PORT", 9108, "--metrics-port", "/healthz"),
    "notify": ("SITREP_NOTIFY__METRICS_PORT", 9310, "--metrics-port", "/healthz"),
    "serve": ("SITREP_WEB__PORT", 8000, "--port", "/healthz"),
}
GLOBAL_OPTIONS_WITH_VALUE = {"--log-level"}


def _sitrep_argv() -> list[str] | None:
    """The arguments after ``sitrep`` of the sitrep process in this container, if any."""
    own = os.getpid()
    for proc in sorted(Path("/proc").glob("[0-9]*"), key=lambda p: int(p.name)):
        if int(proc.name) == own:
            continue
        try:
            argv = proc.joinpath("cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [part.decode(errors="replace") for part in argv if part]
        for index, word in enumerate(words):
            if os.path.basename(word) == "sitrep":
                return words[index + 1 :]
    return None


def _role(args: list[str]) -> tuple[str | None, list[str]]:
    """The long-running role of a sitrep command line (None: a one-shot command) and the
    options after its subcommand."""
    rest = list(args)
    while rest and rest[0].startswith("-"):  # global options come before the subcommand
        if rest.pop(0) in GLOBAL_OPTIONS_WITH_VALUE and rest:
            rest.pop(0)
    if not rest:
        return None, []
    command, options = rest[0], rest[1:]
    words = [word for word in options if not word.startswith("-")]
    if command == "intake":
        return ("intake" if words[:1] == ["serve"] else None), options
    if command == "notify":
        return (None if {"check", "test"} & set(words) else "notify"), options
    return (command if command in ROLES else None), options


def _option(options: list[str], name: str) -> str | None:
    for index, word in enumerate(options):
        if word == name and index + 1 < len(options):
            return options[index + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def health_url() -> str | None:
    """The URL to check, or None when the container's command has no health endpoint."""
    if len(sys.argv) > 1:
        return sys.argv[1]
    if os.environ.get("SITREP_HEALTH_URL"):
        return os.environ["SITREP_HEALTH_URL"]
    args = _sitrep_argv()
    if args is None:
        return None
    role, options = _role(args)
    if role is None:
        return None
    setting, default, cli_option, path = ROLES[role]
    port = (_option(options, cli_option) if cli_option else None) or os.environ.get(setting)
    port_number = int(port) if port else default
    if port_number == 0:
        return None
    return f"http://127.0.0.1:{port_number}{path}"


def main() -> int:
    url = health_url()
    if url is None:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:  # 4xx/5xx, e.g. the worker's 503 while it starts
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        sys.stderr.write(f"unhealthy: {url}: {exc}\n")
        return 1
    if not 200 <= status < 300:
        sys.stderr.write(f"unhealthy: {url}: HTTP {status}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
