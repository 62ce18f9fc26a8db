"""`make audit`'s verdict on a pip-audit JSON report: fail only on vulnerabilities with a fix."""

from __future__ import annotations

import json
from pathlib import Path

from sitrep.vulnerabilities import findings, main, verdict

REPORT = {
    "dependencies": [
        {"name": "fastapi", "version": "0.165.0", "vulns": []},
        {
            "name": "jinja2",
            "version": "2.11.0",
            "vulns": [
                {"id": "PYSEC-2021-66", "fix_versions": ["2.11.3"]},
                {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]},
            ],
        },
        {"name": "ecdsa", "version": "0.19.1", "vulns": [{"id": "GHSA-wj6h", "fix_versions": []}]},
    ],
    "fixes": [],
}


def test_vulnerabilities_with_a_fix_fail_the_audit(tmp_path: Path) -> None:
    found = findings(REPORT)
    assert [(f.package, f.vuln_id) for f in found] == [
        ("jinja2", "PYSEC-2021-66"),
        ("jinja2", "GHSA-h5c8-rqwp-cp95"),
        ("ecdsa", "GHSA-wj6h"),
    ]
    lines, failed = verdict(found)
    assert failed
    assert lines[0] == "FIX  jinja2 2.11.0: PYSEC-2021-66 (fixed in 2.11.3)"
    assert "WAIT ecdsa 0.19.1: GHSA-wj6h (no fix yet)" in lines
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(REPORT))
    assert main([str(path)]) == 1


def test_vulnerabilities_without_a_fix_are_listed_but_pass(tmp_path: Path) -> None:
    only_unfixed = {"dependencies": [REPORT["dependencies"][0], REPORT["dependencies"][2]]}
    lines, failed = verdict(findings(only_unfixed))
    assert not failed and lines[-1] == "1 known vulnerabilities, none with a fix yet"
    path = tmp_path / "audit.json"
    path.write_text(json.dumps({"dependencies": [REPORT["dependencies"][0]]}))
    assert main([str(path)]) == 0
