"""The control room: the situation board page, its snapshot and its live stream.

``GET /`` serves the page (all assets from this service: no external network at run time),
``GET /v1/board`` the current picture as JSON, ``GET /v1/live`` the same picture followed by
every change as Server-Sent Events. Browsers reconnect by themselves (EventSource) and get a
fresh snapshot each time, so nothing is missed across a network drop or a server restart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, StreamingResponse

from schemas.registry import AreaRegistry, default_registry
from schemas.report import OperationPhase
from sinks.es.names import IndexNames
from sinks.i18n import PHASE_LABELS
from sinks.search.service import call_elasticsearch
from sinks.web.live import LiveEvent, LiveFeed
from sinks.web.trend import TREND_HOURS, trend_from_response, trend_query
from sitrep.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
# A comment line this often keeps proxies from closing an idle stream and lets the page tell
# a quiet situation from a dead connection.
PING_EVERY_S = 5.0

router = APIRouter(tags=["control room"])


def area_layout(registry: AreaRegistry, province_code: str) -> dict[str, Any]:
    """The province, its regencies and their kecamatan, as the board lays them out."""
    province = registry.require(province_code)
    return {
        "code": province.code,
        "name": province.name,
        "regencies": [
            {
                "code": regency.code,
                "name": regency.name,
                "districts": [
                    {"code": d.code, "name": d.name} for d in registry.districts(regency.code)
                ],
            }
            for regency in registry.regencies(province.code)
        ],
    }


def board_snapshot(settings: Settings, feed: LiveFeed, now: datetime) -> dict[str, Any]:
    return {
        "generated_at": now.isoformat(),
        "timezone": settings.timezone,
        "connected": feed.connected,
        "caught_up": feed.caught_up,
        "province": area_layout(default_registry(), settings.province_code),
        **feed.board.snapshot(),
    }


def sse(event: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event (``data`` as a single JSON line)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get("/", include_in_schema=False)
def board_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "board.html", headers={"Cache-Control": "no-cache"})


@router.get("/v1/board", summary="Current status of every area and recent alerts")
def board(request: Request) -> dict[str, Any]:
    return board_snapshot(request.app.state.settings, request.app.state.live, datetime.now(UTC))


@router.get(
    "/v1/board/trend",
    summary="Hourly maximum score of every regency over 24 h, and the operation phase",
)
def board_trend(request: Request) -> dict[str, Any]:
    """For the tiles' sparklines. The window ends at the newest status on the board (event
    time), so a replayed scenario shows its own last day."""
    settings: Settings = request.app.state.settings
    feed: LiveFeed = request.app.state.live
    codes = [r.code for r in default_registry().regencies(settings.province_code)]
    newest = [s.updated_at for code, s in feed.board.statuses.items() if code in codes]
    end = max(newest) if newest else datetime.now(UTC)
    response = call_elasticsearch(
        request.app.state.es.search,
        index=IndexNames(settings.indexer.index_prefix).status_history,
        ignore_unavailable=True,
        allow_no_indices=True,
        **trend_query(codes, end),
    )
    return {
        "end": end.isoformat(),
        "hours": TREND_HOURS,
        "trends": trend_from_response(response),
        "phase": current_phase(request.app.state.es, settings),
    }


def current_phase(es: Any, settings: Settings) -> dict[str, str] | None:
    """The operation phase of the newest report of the province (as the field units see it)."""
    response = call_elasticsearch(
        es.search,
        index=IndexNames(settings.indexer.index_prefix).reports,
        ignore_unavailable=True,
        allow_no_indices=True,
        size=1,
        sort=[{"occurred_at": "desc"}],
        source=["phase"],
        query={"prefix": {"district": settings.province_code + "."}},
    )
    hits = response["hits"]["hits"]
    if not hits or not hits[0]["_source"].get("phase"):
        return None
    value = hits[0]["_source"]["phase"]
    try:
        labels = PHASE_LABELS[OperationPhase(value)]
    except ValueError:
        return None
    return {"value": value, "id": labels["id"], "en": labels["en"]}


@router.get(
    "/v1/live",
    summary="Server-Sent Events: a snapshot, then every status and alert change",
    response_class=StreamingResponse,
)
async def live(request: Request) -> StreamingResponse:
    feed: LiveFeed = request.app.state.live
    settings: Settings = request.app.state.settings
    # Subscribe before the snapshot: a change in between is sent twice, never missed (the page
    # keeps the newest record per area and alert).
    queue = feed.subscribe()

    async def events() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            yield sse("snapshot", board_snapshot(settings, feed, datetime.now(UTC)))
            while True:
                try:
                    event: LiveEvent | None = await asyncio.wait_for(queue.get(), PING_EVERY_S)
                except TimeoutError:
                    yield sse(
                        "ping", {"at": datetime.now(UTC).isoformat(), "connected": feed.connected}
                    )
                    continue
                if event is None:
                    return  # dropped (too slow) or shutting down: the browser reconnects
                yield sse(event.kind, event.data)
        finally:
            feed.unsubscribe(queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
