"""Subcommands of the ``sitrep`` CLI, one module per group."""
