"""Optional OpenTelemetry tracing of a report from intake to index (issue 10), off by default.

``tracing_for(settings, role)`` returns ``NOOP`` unless ``SITREP_TRACING__ENABLED=true``; the
no-op imports nothing of opentelemetry and costs one attribute check per batch. When enabled,
spans go through a ``BatchSpanProcessor`` to an OTLP/HTTP endpoint, and the W3C ``traceparent``
travels from the intake to the indexer in each Kafka record's headers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sitrep.settings import Settings

TRACEPARENT = "traceparent"


class NoopTracing:
    """Tracing switched off: every call is a cheap no-op."""

    enabled = False

    @contextlib.contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[str | None]:
        """A span around the block; yields its W3C traceparent (None when off)."""
        yield None

    def start_spans(self, name: str, traceparents: Iterable[str]) -> list[Any]:
        return []

    def end_spans(self, spans: Iterable[Any]) -> None:
        return None

    def shutdown(self) -> None:
        return None


NOOP = NoopTracing()


class OtelTracing:
    """Tracing switched on (needs the ``tracing`` extra)."""

    enabled = True

    def __init__(self, service_name: str, endpoint: str, sample_ratio: float) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}),
            sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        )
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self._tracer = self._provider.get_tracer("sitrep")
        self._propagator = TraceContextTextMapPropagator()

    @contextlib.contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[str | None]:
        from opentelemetry import trace

        with self._tracer.start_as_current_span(name, attributes=attributes) as span:
            carrier: dict[str, str] = {}
            self._propagator.inject(carrier, context=trace.set_span_in_context(span))
            yield carrier.get(TRACEPARENT)

    def start_spans(self, name: str, traceparents: Iterable[str]) -> list[Any]:
        """One span per traceparent, each a child of the span that sent the record."""
        return [
            self._tracer.start_span(name, context=self._propagator.extract({TRACEPARENT: tp}))
            for tp in traceparents
        ]

    def end_spans(self, spans: Iterable[Any]) -> None:
        for span in spans:
            span.end()

    def shutdown(self) -> None:
        self._provider.shutdown()  # flushes what is still queued


Tracing = NoopTracing | OtelTracing


def tracing_for(settings: Settings, role: str) -> Tracing:
    """The tracing of one role (``intake``, ``indexer``): ``NOOP`` unless enabled."""
    config = settings.tracing
    if not config.enabled:
        return NOOP
    service = config.service_name or f"sitrep-{role}"
    return OtelTracing(service, config.otlp_endpoint, config.sample_ratio)


def header_traceparent(headers: Iterable[tuple[str, bytes]] | None) -> str | None:
    """The traceparent of a consumed Kafka record, if it carries one."""
    for key, value in headers or ():
        if key == TRACEPARENT and value:
            return value.decode("ascii", "replace")
    return None
