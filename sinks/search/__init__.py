"""Analyst search over the report indices: query language, filters, facets, export."""
