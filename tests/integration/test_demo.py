"""`sitrep demo` (what `make demo` runs) works end to end on the running stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sitrep.settings import Settings

pytestmark = pytest.mark.integration


def test_demo_sends_reports_and_reads_them_back(local_stack: Settings) -> None:
    sitrep = str(Path(sys.executable).with_name("sitrep"))
    result = subprocess.run(
        [sitrep, "demo", "--count", "12"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "12 reports validated and acknowledged by Kafka" in result.stdout
    assert "12 read back byte-identical" in result.stdout
    assert "Kota Balikpapan" in result.stdout
    assert "cluster green" in result.stdout or "cluster yellow" in result.stdout
