"""The web app factory: the control room (board, live stream), search and alerts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from elasticsearch import Elasticsearch
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from schemas.registry import default_registry
from sinks.es.names import IndexNames
from sinks.search.service import SearchService
from sinks.text import default_stemmer
from sinks.web import admin_api, alerts_api, board, daily_api, login, pages, search_api
from sinks.web.auth import authenticator_from_settings, install_auth, require
from sinks.web.errors import install_error_handlers
from sinks.web.live import LiveBoard, LiveFeed
from sinks.web.operators import OperatorRole
from sitrep import __version__, clients
from sitrep.http_security import PAGES_CSP, add_api_docs, install_cors, install_security_headers
from sitrep.settings import Settings

# The board shows alerts of the last day, resolved ones included.
ALERTS_LOOKBACK = timedelta(hours=24)


class WebMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sitrep_web_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "sitrep_web_request_seconds",
            "Time to the response head, by route",
            ["route"],
            registry=self.registry,
        )


def create_app(
    settings: Settings,
    *,
    es: Elasticsearch | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The FastAPI app. Without ``es`` it builds its Elasticsearch client from settings at
    startup and closes it at shutdown."""
    owned: list[Elasticsearch] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = es
        if client is None:
            client = clients.elasticsearch(settings)
            owned.append(client)
        app.state.es = client
        app.state.search = SearchService(
            client,
            IndexNames(settings.indexer.index_prefix),
            default_registry(),
            default_stemmer(),
        )
        live = LiveFeed(
            settings,
            LiveBoard(settings.province_code, keep_resolved=ALERTS_LOOKBACK),
            alerts_lookback=ALERTS_LOOKBACK,
        )
        live.start()
        app.state.live = live
        yield
        await live.stop()
        app.state.kafka.close()
        for owned_client in owned:
            owned_client.close()

    app = FastAPI(
        title="sitrep",
        version=__version__,
        description="Situation reports: the control room (live board, alerts) and analyst search.",
        lifespan=lifespan,
        # Served by add_api_docs below, behind a login like the rest.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.kafka = alerts_api.KafkaLink(settings)
    metrics = WebMetrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    install_auth(app, authenticator_from_settings(settings))
    app.state.login_limits = login.LoginLimits.from_settings(settings)
    viewers = [Depends(require(OperatorRole.VIEWER))]

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.requests.labels(route=route, status=str(response.status_code)).inc()
        metrics.seconds.labels(route=route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=False, dependencies=viewers)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["ops"])
    def health(request: Request) -> dict[str, Any]:
        reachable = bool(request.app.state.es.ping())
        return {"status": "ok" if reachable else "degraded", "elasticsearch": reachable}

    # The wall-screen board: viewers (anonymous ones too, by default: SITREP_WEB__ANONYMOUS_ROLE).
    app.include_router(board.router, dependencies=viewers)
    app.include_router(login.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=board.STATIC_DIR), name="static")
    app.include_router(search_api.router)
    app.include_router(search_api.feed_router)
    app.include_router(alerts_api.router)
    app.include_router(daily_api.router)
    app.include_router(admin_api.router)
    for router in routers:
        app.include_router(router)
    add_api_docs(app, viewers, "sitrep")
    install_security_headers(app, csp=PAGES_CSP, hsts_max_age_s=settings.web.hsts_max_age_s)
    install_cors(app, settings.web.cors_origins)
    return app
