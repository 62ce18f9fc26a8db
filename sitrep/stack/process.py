"""Start, find and stop the stack's own background processes by pid file.

A pid file alone is not trusted: the process must still exist and its command line must carry a
marker unique to this stack's home folder, so ``down`` never signals a process it did not start.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PidRecord:
    pid: int
    marker: str
    started_at: float


def read_cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    # Field 3, after the parenthesised command name, is the state letter.
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def read_environ(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def is_running(record: PidRecord) -> bool:
    """Alive, not a zombie, and carrying the marker in its command line or its environment."""
    cmdline = read_cmdline(record.pid)
    if cmdline is None or _is_zombie(record.pid):
        return False
    return record.marker in cmdline or record.marker in (read_environ(record.pid) or "")


def load_pid_file(path: Path) -> PidRecord | None:
    try:
        data = json.loads(path.read_text())
        return PidRecord(
            pid=int(data["pid"]), marker=str(data["marker"]), started_at=data["started_at"]
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def running_record(path: Path) -> PidRecord | None:
    """The record in ``path`` if that process is alive and ours; stale files are removed."""
    record = load_pid_file(path)
    if record is None:
        return None
    if is_running(record):
        return record
    path.unlink(missing_ok=True)
    return None


def spawn(
    command: Sequence[str],
    *,
    marker: str,
    pid_file: Path,
    output: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> PidRecord:
    """Start ``command`` detached in its own session, output appended to ``output``.

    The marker must be in the command line or in ``env`` (checked later by ``is_running``).
    """
    if marker not in " ".join(command) and marker not in " ".join((env or {}).values()):
        raise ValueError(f"marker {marker!r} must appear in the command line or environment")
    output.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with output.open("ab") as sink:
        proc = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    record = PidRecord(pid=proc.pid, marker=marker, started_at=time.time())
    pid_file.write_text(json.dumps(record.__dict__))
    _wait_for_exec(record)
    return record


def _wait_for_exec(record: PidRecord, timeout_s: float = 5.0) -> None:
    """Right after fork the child still shows Python's command line; wait for the exec."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not is_running(record):
        if read_cmdline(record.pid) is None:
            return
        time.sleep(0.02)


def terminate(record: PidRecord, pid_file: Path, grace_s: float = 60.0) -> bool:
    """SIGTERM the process group, SIGKILL after ``grace_s``. True if something was stopped."""
    if not is_running(record):
        pid_file.unlink(missing_ok=True)
        return False
    _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and is_running(record):
        _reap(record.pid)
        time.sleep(0.2)
    if is_running(record):
        _signal_group(record.pid, signal.SIGKILL)
        while is_running(record):
            _reap(record.pid)
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (same Python process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
