"""Every Prometheus metric the roles expose, read from the metrics classes themselves.

Each role keeps its metrics in its own registry (intake, worker with its alert rules, indexer,
notifier, web). This module instantiates those classes with fresh registries and describes what
they define, so the Grafana dashboard (deploy/grafana/) and its metrics table can be checked
against the code instead of a copy of it.

``python -m sitrep.metrics_catalog`` prints the Markdown table of deploy/grafana/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

__all__ = ["MetricInfo", "catalog", "markdown_table", "series_names"]

# The sample names a metric family of each type exposes, as PromQL sees them.
SUFFIXES: Final[dict[str, tuple[str, ...]]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


@dataclass(frozen=True)
class MetricInfo:
    role: str
    name: str  # the family name: without _total, _bucket, ...
    type: str  # counter | gauge | histogram | summary
    labels: tuple[str, ...]
    documentation: str
    defined_in: str  # module.Class

    @property
    def series(self) -> tuple[str, ...]:
        """The names PromQL can select for this metric."""
        return tuple(self.name + suffix for suffix in SUFFIXES[self.type])

    @property
    def query_name(self) -> str:
        """How dashboards name it: ``_total`` for counters, the family name otherwise."""
        return self.name + "_total" if self.type == "counter" else self.name


def _metrics_objects() -> list[tuple[str, object]]:
    """(role, metrics object), each with a registry of its own."""
    from producers.intake.app import IntakeMetrics
    from sinks.indexer.metrics import IndexerMetrics
    from sinks.notify.metrics import NotifyMetrics
    from sinks.web.app import WebMetrics
    from streams.alerting import AlertMetrics
    from streams.metrics import WorkerMetrics

    worker = WorkerMetrics()
    return [
        ("intake", IntakeMetrics()),
        ("worker", worker),
        # The alert rules register on the worker's registry (streams/app.py).
        ("worker", AlertMetrics(CollectorRegistry())),
        ("indexer", IndexerMetrics(CollectorRegistry())),
        ("notify", NotifyMetrics(CollectorRegistry())),
        ("web", WebMetrics()),
    ]


def catalog() -> list[MetricInfo]:
    """Every metric of every role, in role order, then in the order the class defines them."""
    found: list[MetricInfo] = []
    for role, metrics in _metrics_objects():
        owner = f"{type(metrics).__module__}.{type(metrics).__qualname__}"
        for value in vars(metrics).values():
            if not isinstance(value, MetricWrapperBase):
                continue
            for family in value.describe():
                labels = tuple(getattr(value, "_labelnames", ()))
                found.append(
                    MetricInfo(role, family.name, family.type, labels, family.documentation, owner)
                )
    return found


def series_names() -> set[str]:
    return {name for metric in catalog() for name in metric.series}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown_table(metrics: list[MetricInfo] | None = None) -> str:
    rows = [
        "| metric | role | type | labels | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for metric in metrics if metrics is not None else catalog():
        labels = ", ".join(f"`{label}`" for label in metric.labels) or "–"
        rows.append(
            f"| `{metric.query_name}` | {metric.role} | {metric.type} | {labels} "
            f"| {_cell(metric.documentation)} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown_table())
