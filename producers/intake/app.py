"""The HTTP intake as a FastAPI app: routes, authentication, size limit, metrics, health.

No ``from __future__ import annotations`` here: FastAPI reads the route signatures (with
their local dependencies) at runtime.

``create_app`` takes already-built parts (service, token store, readiness probe), so the
composition (``producers.intake.run``) is the only place that knows about settings and Kafka.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from producers.intake.service import IntakeService, Outcome, error_body, server_now
from producers.records import SERVER_SET_FIELDS
from producers.tokens import TokenGrant, TokenStore
from schemas.report import FieldReport
from sitrep.http_security import API_CSP, add_api_docs, install_cors, install_security_headers
from sitrep.ratelimit import RateLimit, RateLimiter, retry_after_header


class IntakeMetrics:
    """Prometheus metrics of one app, in its own registry (no process-global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.accepted = Counter(
            "sitrep_intake_reports_accepted",
            "Reports written to Kafka and acknowledged",
            registry=self.registry,
        )
        self.repeated = Counter(
            "sitrep_intake_reports_repeated",
            "Reports re-sent with an already accepted report_id and the same content",
            registry=self.registry,
        )
        self.rejected = Counter(
            "sitrep_intake_reports_rejected",
            "Reports rejected, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.requests = Counter(
            "sitrep_intake_requests",
            "Requests to POST /v1/reports, by status",
            ["status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sitrep_intake_request_seconds",
            "Time to answer POST /v1/reports (incl. waiting for Kafka)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )

    def count(self, outcome: Outcome, seconds: float) -> None:
        self.requests.labels(str(outcome.status)).inc()
        self.latency.observe(seconds)
        if outcome.accepted:
            self.accepted.inc(outcome.accepted)
        if outcome.repeated:
            self.repeated.inc(outcome.repeated)
        for reason, count in outcome.rejected.items():
            self.rejected.labels(reason).inc(count)


@dataclass(frozen=True)
class IntakeParts:
    service: IntakeService
    tokens: TokenStore
    kafka_ready: Callable[[], Awaitable[bool]]
    max_body_bytes: int
    # Flushes Kafka and closes what the parts hold; run when the server shuts down (in the
    # lifespan, i.e. also on SIGTERM, which uvicorn re-raises only after the shutdown).
    close: Callable[[], None] = lambda: None
    # Requests per token (429 with Retry-After beyond it); the default never limits.
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(RateLimit(0, 1)))
    cors_origins: tuple[str, ...] = ()
    clock: Callable[[], float] = time.monotonic


_DESCRIPTION = """
Field reports into the sitrep pipeline (Kafka topic `sitrep.reports`).

* `POST /v1/reports` takes one report (a JSON object) or a batch (a JSON array).
  Authenticate with `Authorization: Bearer <token>` (`sitrep intake token add`).
* The server sets `received_at` (its clock, UTC) and `reporter` (from the token); `source`
  defaults to `app` and `schema_version` to the current version.
* `202`: every report was acknowledged by Kafka. `422`: invalid JSON or fields (every error
  listed with its path). `403`: a regency outside the token's scope. `409`: a `report_id`
  already accepted with different content. `413`: too large. `429`: too many requests with
  this token; retry after `Retry-After` seconds. `503`: Kafka did not acknowledge; retry with
  the same `report_id` (safe: repeats are recognised).
* Everything but `/healthz` and `/readyz` needs a token, this document included.
* A batch is all or nothing; rejected reports are recorded on `sitrep.deadletter`.

Error bodies carry `pesan` (Bahasa Indonesia) and `message` (English).
"""


def create_app(parts: IntakeParts) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(parts.close)

    app = FastAPI(
        title="sitrep intake",
        version="1",
        description=_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    metrics = IntakeMetrics()
    bearer = HTTPBearer(auto_error=False, description="per-unit API token")

    def grant_for(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> TokenGrant:
        if credentials is None:
            raise Unauthorised(401, "Token tidak ada.", "Missing bearer token.")
        grant = parts.tokens.authenticate(credentials.credentials)
        if grant is None:
            raise Unauthorised(403, "Token tidak dikenal.", "Unknown or revoked token.")
        return grant

    def within_rate(grant: Annotated[TokenGrant, Depends(grant_for)]) -> TokenGrant:
        decision = parts.rate_limiter.take(grant.token_id, parts.clock())
        if not decision.allowed:
            raise RateLimited(decision.retry_after_s)
        return grant

    @app.exception_handler(Unauthorised)
    async def refuse(_request: Request, error: Unauthorised) -> JSONResponse:
        metrics.requests.labels(str(error.status)).inc()
        body = {"error": "unauthorized", "pesan": error.indonesian, "message": error.english}
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(body, status_code=error.status, headers=headers)

    @app.exception_handler(RateLimited)
    async def slow_down(_request: Request, error: RateLimited) -> JSONResponse:
        metrics.requests.labels("429").inc()
        wait = retry_after_header(error.retry_after_s)
        body = {
            "error": "rate_limited",
            "pesan": f"Terlalu banyak permintaan dengan token ini; coba lagi dalam {wait} detik.",
            "message": f"Too many requests with this token; retry in {wait} s.",
            "retry_after_s": int(wait),
        }
        return JSONResponse(body, status_code=429, headers={"Retry-After": wait})

    @app.post(
        "/v1/reports",
        status_code=202,
        summary="Submit one field report or a batch",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/IncomingReport"},
                                {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/IncomingReport"},
                                },
                            ]
                        }
                    }
                },
            }
        },
        responses={
            202: {"description": "accepted: `{accepted: [ids], duplicates: [ids], received_at}`"},
            401: {"description": "no token"},
            403: {"description": "unknown token, or a regency outside its scope"},
            409: {"description": "report_id already accepted with different content"},
            413: {"description": "body or batch too large"},
            429: {"description": "too many requests with this token: wait `Retry-After` s"},
            422: {"description": "invalid JSON or fields: `reports[].problems[{path, message}]`"},
            503: {"description": "Kafka did not acknowledge; retry with the same report_id"},
        },
    )
    async def submit_reports(
        request: Request, grant: Annotated[TokenGrant, Depends(within_rate)]
    ) -> JSONResponse:
        started = time.perf_counter()
        body = await _read_limited(request, parts.max_body_bytes)
        if body is None:
            too_large = error_body("too_large", max_body_bytes=parts.max_body_bytes)
            outcome = Outcome(413, too_large, rejected={"too_large": 1})
        else:
            outcome = await parts.service.submit(body, grant, server_now())
        metrics.count(outcome, time.perf_counter() - started)
        return JSONResponse(outcome.body, status_code=outcome.status)

    @app.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Ready to accept reports (Kafka reachable)")
    async def readyz() -> JSONResponse:
        ready = await parts.kafka_ready()
        body = {"status": "ready" if ready else "not ready", "kafka": ready}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get(
        "/metrics",
        summary="Prometheus metrics (any intake token)",
        include_in_schema=True,
        dependencies=[Depends(grant_for)],
    )
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    add_api_docs(app, [Depends(grant_for)], "sitrep intake")
    _add_report_schema(app)
    install_security_headers(app, csp=API_CSP)
    install_cors(app, parts.cors_origins)
    return app


class Unauthorised(Exception):
    def __init__(self, status: int, indonesian: str, english: str) -> None:
        super().__init__(english)
        self.status = status
        self.indonesian = indonesian
        self.english = english


class RateLimited(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limited for {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds ``limit`` (without reading the rest)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def incoming_report_schema() -> dict[str, Any]:
    """The FieldReport JSON Schema as a client sends it: without the fields the server sets
    (received_at, reporter) and with source and schema_version optional (defaults apply)."""
    schema = FieldReport.model_json_schema(ref_template="#/components/schemas/{model}")
    for server_set in SERVER_SET_FIELDS:
        schema["properties"].pop(server_set, None)
    optional = SERVER_SET_FIELDS | {"source", "schema_version"}
    schema["required"] = [name for name in schema["required"] if name not in optional]
    schema["title"] = "IncomingReport"
    schema["description"] = (
        "A field report as submitted to the intake; the server adds received_at and reporter."
    )
    return schema


def _add_report_schema(app: FastAPI) -> None:
    """Put the report JSON Schema into the OpenAPI components (the body is read raw)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = original()
        schema = incoming_report_schema()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.update(schema.pop("$defs", {}))
        components["IncomingReport"] = schema
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
