"""sitrep: composition root (settings, logging, CLI) for the situation-report pipeline."""

__version__ = "0.1.0"
