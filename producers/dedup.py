"""Which report ids the intake has accepted, and with what content: a small SQLite file.

Used to answer a re-sent ``report_id`` correctly: same content -> accepted again (nothing new
is written), different content -> 409. Bounded by a retention horizon (rows older than it are
pruned) and restart-safe (a file under SITREP_HOME). One file per intake process: several
intake replicas do not see each other's ids (see docs/intake.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS accepted (
    report_id   TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    accepted_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS accepted_at_idx ON accepted (accepted_at);
"""
# SQLite limits bound parameters per statement (32766 on current builds); stay well below.
_CHUNK: Final = 500


class Verdict(StrEnum):
    NEW = "new"
    REPEAT = "repeat"  # same id, same content: accept again, write nothing
    CONFLICT = "conflict"  # same id, different content: 409


def judge(fingerprint: str, known: str | None) -> Verdict:
    if known is None:
        return Verdict.NEW
    return Verdict.REPEAT if known == fingerprint else Verdict.CONFLICT


class FingerprintStore:
    """report_id -> content fingerprint of what was accepted, kept for ``retention``."""

    def __init__(self, path: Path, retention: timedelta) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.retention = retention
        # One connection used from the event loop thread only (the intake is single-threaded).
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a power cut may lose the last commits, never corrupt the file.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._last_prune: datetime | None = None

    def lookup(self, report_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(report_ids))
        found: dict[str, str] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT report_id, fingerprint FROM accepted WHERE report_id IN ({marks})",
                chunk,
            )
            found.update(rows.fetchall())
        return found

    def remember(self, fingerprints: Mapping[str, str], at: datetime) -> None:
        """Record accepted reports (after Kafka acknowledged them); prunes now and then."""
        stamp = at.timestamp()
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO accepted VALUES (?, ?, ?)",
                [(rid, fp, stamp) for rid, fp in fingerprints.items()],
            )
        if self._last_prune is None or at - self._last_prune > timedelta(hours=1):
            self.prune(at)

    def prune(self, now: datetime) -> int:
        self._last_prune = now
        horizon = (now - self.retention).timestamp()
        with self._transaction():
            cursor = self._db.execute("DELETE FROM accepted WHERE accepted_at < ?", (horizon,))
        return cursor.rowcount

    def count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM accepted").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def verdicts(
    fingerprints: Sequence[tuple[str, str]], known: Mapping[str, str]
) -> list[tuple[str, Verdict]]:
    """The verdict for each (report_id, fingerprint) of a batch against what is known.

    A batch that names one id twice with different content conflicts with itself.
    """
    seen: dict[str, str] = dict(known)
    result = []
    for report_id, fingerprint in fingerprints:
        verdict = judge(fingerprint, seen.get(report_id))
        seen.setdefault(report_id, fingerprint)
        result.append((report_id, verdict))
    return result
