"""Java and Maven, as the local stack uses them."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from sitrep.settings import StackSettings

from .process import tail


class StackError(RuntimeError):
    """Something the user must fix before the local stack can run; the message says what."""


def java_binary(stack: StackSettings) -> str:
    candidates = [stack.java]
    if java_home := os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(java_home) / "bin" / "java"))
    candidates.append(shutil.which("java"))
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            _require_java_17(candidate)
            return candidate
    raise StackError("Java 17 or newer is required: install a JDK or set SITREP_STACK__JAVA")


@functools.cache
def java_major(java: str) -> int:
    """The feature release of a java binary (17, 21, 25...), 0 if it does not say."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else 0


def _require_java_17(java: str) -> None:
    if java_major(java) < 17:
        raise StackError(f"{java} is not Java 17 or newer; set SITREP_STACK__JAVA to one that is")


def run_maven(stack: StackSettings, pom: Path, goals: Sequence[str], log_file: Path) -> None:
    """Run Maven in batch mode; its whole output goes to ``log_file``."""
    maven = shutil.which(stack.maven)
    if maven is None:
        raise StackError(f"Maven ({stack.maven}) is required to fetch the stack's jars; install it")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("wb") as sink:
        result = subprocess.run(
            [maven, "-B", "-f", str(pom), *goals],
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise StackError(
            f"Maven failed (exit {result.returncode}); full output in {log_file}:\n"
            + tail(log_file, 25)
        )
