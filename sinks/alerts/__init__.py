"""People and alerts: acknowledgements and silences (shared by the web API and the CLI)."""
