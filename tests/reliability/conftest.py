"""Fixtures of the reliability suite."""

from __future__ import annotations

# --- bad-input corpus (tests/reliability/test_bad_input_*.py) ----------------------------------
# The fixtures live in conftest_bad_input.py with the corpus loader; re-exported here so pytest
# finds them for every module of this folder.
from tests.reliability.conftest_bad_input import (  # noqa: F401
    bad_input_intake,
    bad_input_stack,
)
# --- end of bad-input corpus -------------------------------------------------------------------
