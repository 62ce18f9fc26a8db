"""Elasticsearch index management: names, versioned templates, setup, retention, reindex."""
