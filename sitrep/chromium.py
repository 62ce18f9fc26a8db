"""How sitrep's browser tests and the board benchmark start Debian's chromium (Playwright
drives it; it never downloads a browser of its own). `make browser` installs it."""

from __future__ import annotations

import os
from typing import Final

CHROMIUM: Final = os.environ.get("SITREP_TEST_CHROMIUM", "/usr/bin/chromium")
# Headless on a machine without outside network: no background calls home (refused here).
CHROMIUM_ARGS: Final = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
