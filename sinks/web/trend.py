"""The 24-hour trend of every regency for the board's sparklines, from the status history.

The window ends at the newest status the board holds (event time), not at the wall clock, so
a replayed scenario shows its own last day just as a live operation shows today's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

TREND_HOURS = 24


def trend_query(
    regency_codes: Sequence[str], end: datetime, hours: int = TREND_HOURS
) -> dict[str, Any]:
    """Hourly maximum score per regency over ``hours`` up to ``end`` (search body)."""
    start = end - timedelta(hours=hours)
    return {
        "size": 0,
        "query": {
            "bool": {
                "filter": [
                    {"terms": {"area_code": list(regency_codes)}},
                    {"range": {"updated_at": {"gt": start.isoformat(), "lte": end.isoformat()}}},
                ]
            }
        },
        "aggs": {
            "areas": {
                "terms": {"field": "area_code", "size": max(1, len(regency_codes))},
                "aggs": {
                    "hours": {
                        "date_histogram": {
                            "field": "updated_at",
                            "fixed_interval": "1h",
                            "min_doc_count": 0,
                            "extended_bounds": {"min": start.isoformat(), "max": end.isoformat()},
                        },
                        "aggs": {"score": {"max": {"field": "score"}}},
                    }
                },
            }
        },
    }


def trend_from_response(response: Mapping[str, Any]) -> dict[str, list[float | None]]:
    """Per regency, the hourly maximum scores oldest first (None: no status that hour)."""
    trends: dict[str, list[float | None]] = {}
    for area in response.get("aggregations", {}).get("areas", {}).get("buckets", []):
        trends[str(area["key"])] = [bucket["score"]["value"] for bucket in area["hours"]["buckets"]]
    return trends
