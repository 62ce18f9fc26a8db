"""The verdict on a ``pip-audit --format json`` report (``make audit``): fail on every known
vulnerability that has a fixed version; list the ones without a fix, without failing.

Usage: ``python -m sitrep.vulnerabilities REPORT.json`` (exit 1 when something must be fixed).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    vuln_id: str
    fix_versions: tuple[str, ...]

    def line(self) -> str:
        fix = f"fixed in {', '.join(self.fix_versions)}" if self.fix_versions else "no fix yet"
        return f"{self.package} {self.version}: {self.vuln_id} ({fix})"


def findings(report: dict[str, Any]) -> list[Finding]:
    """Every vulnerability of every audited dependency in a pip-audit JSON report."""
    return [
        Finding(
            dependency["name"],
            dependency.get("version", "?"),
            vuln["id"],
            tuple(vuln.get("fix_versions") or ()),
        )
        for dependency in report.get("dependencies", [])
        for vuln in dependency.get("vulns") or []
    ]


def verdict(found: list[Finding]) -> tuple[list[str], bool]:
    """Lines to print and whether the audit failed (some vulnerability has a fix)."""
    fixable = [f for f in found if f.fix_versions]
    unfixed = [f for f in found if not f.fix_versions]
    lines = [f"FIX  {f.line()}" for f in fixable] + [f"WAIT {f.line()}" for f in unfixed]
    if not found:
        lines.append("no known vulnerabilities")
    elif not fixable:
        lines.append(f"{len(unfixed)} known vulnerabilities, none with a fix yet")
    else:
        lines.append(f"{len(fixable)} known vulnerabilities with a fix: upgrade")
    return lines, bool(fixable)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write(f"{__doc__}\n")
        return 2
    report = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    lines, failed = verdict(findings(report))
    sys.stdout.write("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
