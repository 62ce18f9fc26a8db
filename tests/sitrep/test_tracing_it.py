"""Optional tracing (issue 10): a report's intake span and index span arrive at an OTLP/HTTP
receiver in one trace, and with tracing off nothing of opentelemetry is even imported."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sitrep.settings import Settings, TopicNames, TracingSettings
from tests.producers.conftest import report_document
from tests.uvicorn_server import serving

pytestmark = pytest.mark.integration


class Receiver:
    """A tiny OTLP/HTTP trace receiver: decodes every POST /v1/traces."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []  # (service.name, span)
        self.lock = threading.Lock()

    def add(self, body: bytes) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.lock:
            for resource_spans in request.resource_spans:
                service = next(
                    (
                        a.value.string_value
                        for a in resource_spans.resource.attributes
                        if a.key == "service.name"
                    ),
                    "",
                )
                for scope in resource_spans.scope_spans:
                    self.spans.extend((service, span) for span in scope.spans)

    def named(self, name: str) -> list[tuple[str, Any]]:
        with self.lock:
            return [(service, span) for service, span in self.spans if span.name == name]


@contextmanager
def otlp_receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/v1/traces":
                receiver.add(body)
                self.send_response(200)
            else:
                self.send_response(404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running_indexer(settings: Settings) -> Iterator[None]:
    from sinks.indexer.app import run_indexer

    stop = threading.Event()
    thread = threading.Thread(target=run_indexer, args=(settings, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)


@pytest.fixture
def scratch(local_stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Topics, consumer group, index prefix and intake files of this test alone."""
    from sinks.es.setup import drop_everything
    from sitrep import clients
    from sitrep.topics import desired_topics, ensure_topics

    tag = f"ittrace{uuid.uuid4().hex[:8]}"
    topics = TopicNames(**{role: f"{tag}.{role}" for role, _ in local_stack.kafka.topics})
    kafka = local_stack.kafka.model_copy(update={"topics": topics, "partitions": 1})
    indexer = local_stack.indexer.model_copy(
        update={"index_prefix": tag, "group_id": f"{tag}-indexer", "metrics_port": 0}
    )
    intake = local_stack.intake.model_copy(
        update={
            "tokens_file": tmp_path / "tokens.yaml",
            "dedup_file": tmp_path / "accepted.sqlite",
            "validation_workers": 0,
        }
    )
    settings = local_stack.model_copy(update={"kafka": kafka, "indexer": indexer, "intake": intake})
    admin = clients.kafka_admin(settings)
    ensure_topics(admin, desired_topics(settings.kafka))
    yield settings
    try:
        admin.delete_topics(sorted(name for _, name in topics))
    finally:
        admin.close()
    es = clients.elasticsearch(local_stack)
    try:
        drop_everything(es, tag)
    finally:
        es.close()


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_report_is_traced_from_intake_to_index(scratch: Settings) -> None:
    import httpx

    from producers.intake.run import intake_app
    from producers.tokens import add_grant, make_grant, new_token
    from schemas.registry import default_registry
    from schemas.report import ReporterRole
    from sinks.es.names import IndexNames
    from sitrep import clients

    token = new_token()
    grant = make_grant(
        token,
        unit="Polres Balikpapan",
        role=ReporterRole.POLRES,
        regencies=("64.71",),
        registry=default_registry(),
        created_at=datetime.now(UTC),
    )
    add_grant(scratch.intake.tokens_file, grant)  # type: ignore[arg-type]
    report = report_document()
    es = clients.elasticsearch(scratch)
    names = IndexNames(scratch.indexer.index_prefix)

    def indexed() -> bool:
        if not es.indices.exists_alias(name=names.reports):
            return False
        es.indices.refresh(index=names.reports)
        found = es.count(index=names.reports, query={"term": {"report_id": report["report_id"]}})
        return int(found["count"]) == 1

    with otlp_receiver() as (receiver, endpoint):
        traced = scratch.model_copy(
            update={"tracing": TracingSettings(enabled=True, otlp_endpoint=endpoint)}
        )
        with running_indexer(traced), intake_app(traced) as app, serving(app) as base:
            answer = httpx.post(
                f"{base}/v1/reports",
                content=json.dumps(report).encode(),
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert answer.status_code in (200, 201, 202), answer.text
            wait_until(indexed, 60, "the report indexed")
        # Both providers were shut down (flushed) on leaving.
        es.close()
        accepted = receiver.named("intake.accept")
        index = receiver.named("indexer.index")

    assert len(accepted) == 1 and len(index) == 1, receiver.spans
    (intake_service, intake_span), (indexer_service, indexer_span) = accepted[0], index[0]
    assert (intake_service, indexer_service) == ("sitrep-intake", "sitrep-indexer")
    assert indexer_span.trace_id == intake_span.trace_id
    assert indexer_span.parent_span_id == intake_span.span_id
    reports = {a.key: a.value.int_value for a in intake_span.attributes}
    assert reports == {"sitrep.reports": 1}


def test_with_tracing_off_nothing_of_opentelemetry_is_imported() -> None:
    # elasticsearch and fastapi import opentelemetry's API on their own (their optional
    # instrumentation): that is the baseline. Sitrep must add nothing to it, above all not the
    # SDK, the exporter or the protobuf messages.
    script = """
import sys
import elasticsearch, fastapi, aiokafka, kafka
def otel():
    return {m for m in sys.modules if m.split(".")[0] == "opentelemetry"}
baseline = otel()
from producers.delivery import ReportWriter
from producers.intake.service import IntakeService
from producers.intake.run import build_app
from sinks.indexer.runner import Indexer
from sinks.indexer.app import run_indexer
from sitrep.settings import load_settings
from sitrep.tracing import NOOP, tracing_for
for role in ("intake", "indexer"):
    tracing = tracing_for(load_settings(), role)
    assert tracing is NOOP, tracing
    with tracing.span("intake.accept", reports=1) as traceparent:
        assert traceparent is None
    assert tracing.start_spans("indexer.index", ["00-x"]) == []
added = sorted(otel() - baseline)
assert not added, added
heavy = [m for m in otel() if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter",
                                           "opentelemetry.proto"))]
assert not heavy, heavy
"""
    env = {"SITREP_TRACING__ENABLED": "false", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
