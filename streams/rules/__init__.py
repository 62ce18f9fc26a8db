"""Alert rules: YAML rule files, their evaluation over reports and statuses, the lifecycle."""
