"""Kibana saved objects of the sitrep indices: data views, the "Situasi" dashboard, a saved search.

The objects live in ``deploy/kibana/sitrep.ndjson`` (Kibana's export format);
``sitrep kibana import`` sends them to Kibana's saved objects import API, rewritten for the
index prefix of this operation (``SITREP_INDEXER__INDEX_PREFIX``).
"""
