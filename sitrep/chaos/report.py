"""The chaos report: one row per scenario (recovery time, reports delayed, invariants held),
the failed checks spelled out under the table, and the same as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .run import ScenarioResult

HEADERS = ("scenario", "invariants", "fault s", "recovered s", "delayed", "retries", "accepted")


def _row(result: ScenarioResult) -> tuple[str, ...]:
    return (
        result.name,
        "held" if result.held else "BROKEN",
        f"{result.fault_s:.1f}" if result.fault_s else "-",
        "-" if result.recovered_s is None else f"{result.recovered_s:.1f}",
        str(result.delayed),
        str(result.retries),
        str(result.accepted),
    )


def table(results: Sequence[ScenarioResult]) -> str:
    rows = [HEADERS, *(_row(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for result in results:
        for check in result.checks:
            if not check.held:
                lines.append(f"{result.name}: {check.name}: {check.detail}")
        for seen in result.observations:
            if not seen.held:
                lines.append(f"{result.name}: (observed, no invariant) {seen.name}: {seen.detail}")
        if not result.held and result.logs is not None:
            lines.append(f"{result.name}: logs kept in {result.logs}")
    return "\n".join(lines)


def log_tails(result: ScenarioResult, lines: int = 25, width: int = 400) -> str:
    """The last lines of each role's log of a broken run: what a CI log shows of why, after
    the run's folder is gone."""
    parts: list[str] = []
    if result.logs is None or not result.logs.is_dir():
        return ""
    for log in sorted(result.logs.glob("*.log")):
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        parts.append(f"--- {log.name} (last {len(tail)} lines)")
        parts.extend(line[:width] for line in tail)
    return "\n".join(parts)


def document(results: Sequence[ScenarioResult], meta: dict[str, Any]) -> dict[str, Any]:
    return {**meta, "scenarios": [r.as_dict() for r in results]}


def write(path: Path, results: Sequence[ScenarioResult], meta: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document(results, meta), indent=2, ensure_ascii=False) + "\n")
    return path


def default_path(home: Path, now: datetime) -> Path:
    return home / "chaos" / f"chaos-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
