"""deploy/grafana/sitrep.json and the metrics table of deploy/grafana/README.md.

Every metric a PromQL expression of the dashboard selects must be a series one of the roles
exposes: the metrics classes are instantiated here with fresh registries, and the exposed names
follow from each family's type (counters as ``_total``, histograms as ``_bucket``, ``_count``,
``_sum``). Label names in ``by (...)``, matchers and legends must be labels of those metrics.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from sitrep.metrics_catalog import catalog, markdown_table
from sitrep.settings import PROJECT_ROOT

DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "sitrep.json"
README = PROJECT_ROOT / "deploy" / "grafana" / "README.md"
PACKAGES = ("producers", "streams", "sinks", "sitrep", "schemas", "bench")
TABLE_START = "<!-- metrics table:"
TABLE_END = "<!-- end of metrics table -->"

SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


# --- what the code exposes -----------------------------------------------------------------------


def _registries() -> dict[str, CollectorRegistry]:
    from producers.intake.app import IntakeMetrics
    from sinks.indexer.metrics import IndexerMetrics
    from sinks.notify.metrics import NotifyMetrics
    from sinks.web.app import WebMetrics
    from streams.alerting import AlertMetrics
    from streams.metrics import WorkerMetrics

    worker = WorkerMetrics()
    AlertMetrics(worker.registry)  # as streams/app.py does
    return {
        "intake": IntakeMetrics().registry,
        "worker": worker.registry,
        "indexer": IndexerMetrics(CollectorRegistry()).registry,
        "notify": NotifyMetrics(CollectorRegistry()).registry,
        "web": WebMetrics().registry,
    }


def _exposed() -> dict[str, tuple[str, frozenset[str]]]:
    """Series name -> (type, label names) of every metric of every role."""
    exposed: dict[str, tuple[str, frozenset[str]]] = {}
    for registry in _registries().values():
        labels = {
            name: frozenset(getattr(collector, "_labelnames", ()))
            for collector in registry._collector_to_names
            if isinstance(collector, MetricWrapperBase)
            for name in registry._collector_to_names[collector]
        }
        for family in registry.collect():
            for suffix in SUFFIXES[family.type]:
                series = family.name + suffix
                assert series not in exposed, f"{series} defined twice"
                exposed[series] = (family.type, labels[family.name])
            # Samples already present (metrics without labels) carry exactly these names.
            for sample in family.samples:
                assert sample.name in {family.name + s for s in SUFFIXES[family.type]}
    return exposed


def _defined_in_source() -> set[str]:
    """First argument of every prometheus_client metric constructor in the packages."""
    names: set[str] = set()
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constructors = {
                alias.asname or alias.name
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client"
                for alias in node.names
                if alias.name in ("Counter", "Gauge", "Histogram", "Summary", "Info", "Enum")
            }
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in constructors
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    names.add(str(node.args[0].value))
    return names


def test_the_catalog_covers_every_metric_the_source_defines() -> None:
    defined = _defined_in_source()
    assert len(defined) > 25
    assert {metric.name for metric in catalog()} == defined
    exposed = _exposed()
    assert {name for metric in catalog() for name in metric.series} == set(exposed)


# --- PromQL of the dashboard ---------------------------------------------------------------------

FUNCTIONS = {
    "abs", "avg", "avg_over_time", "clamp_min", "count", "delta", "deriv", "histogram_quantile",
    "increase", "irate", "max", "max_over_time", "min", "rate", "sum", "time", "topk",
}  # fmt: skip
KEYWORDS = {"and", "or", "unless", "bool", "offset"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_TOKEN = re.compile(r"([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?\s*(\()?")
_MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")


def parse_promql(expr: str) -> tuple[list[str], set[str], set[str]]:
    """(metric names, labels in by/without/on clauses, labels in matchers) of an expression."""
    text = _RANGE.sub("", expr)
    matcher_labels: set[str] = set()
    for matcher in re.findall(r"\{[^}]*\}", text):
        matcher_labels |= set(_MATCHER_LABEL.findall(_STRING.sub('""', matcher)))
    text = _STRING.sub('""', text)
    grouping = {
        label.strip() for clause in _GROUPING.findall(text) for label in clause.split(",")
    } - {""}
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\{[^}]*\}", "", text)
    metrics = []
    for match in _TOKEN.finditer(text):
        name, _matchers, call = match.groups()
        if call:
            assert name in FUNCTIONS, f"unknown function {name}() in {expr}"
        elif name not in KEYWORDS:
            metrics.append(name)
    return metrics, grouping, matcher_labels


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return dashboard


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _targets() -> list[tuple[str, dict[str, Any]]]:
    return [(panel["title"], target) for panel in _panels() for target in panel["targets"]]


def test_promql_parser() -> None:
    metrics, grouping, matchers = parse_promql(
        'histogram_quantile(0.95, sum by (le, channel) (rate(a_bucket{status=~"5..",x="}"}'
        "[$__rate_interval]))) / on(job) b - time()"
    )
    assert metrics == ["a_bucket", "b"]
    assert grouping == {"le", "channel", "job"}
    assert matchers == {"status", "x"}


def test_every_metric_in_the_dashboard_exists_in_the_code() -> None:
    exposed = _exposed()
    used: set[str] = set()
    for title, target in _targets():
        metrics, grouping, matchers = parse_promql(target["expr"])
        assert metrics, f"{title}: no metric in {target['expr']}"
        available = {"job", "instance"}
        for name in metrics:
            assert name in exposed, f"{title}: {name} is not exposed by any role ({target['expr']})"
            kind, labels = exposed[name]
            available |= labels | ({"le"} if name.endswith("_bucket") else set())
            assert not name.endswith("_created"), f"{title}: {name}"
            if kind == "counter":
                assert re.search(rf"\b(?:rate|irate|increase)\(\s*{name}\b", target["expr"]), (
                    f"{title}: counter {name} outside rate()/increase()"
                )
            if kind == "gauge":
                assert not re.search(rf"\b(?:rate|irate|increase)\(\s*{name}\b", target["expr"]), (
                    f"{title}: rate() of gauge {name}"
                )
            used.add(name)
        assert grouping | matchers <= available, f"{title}: unknown labels in {target['expr']}"
        legend_labels = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        assert legend_labels <= grouping, f"{title}: legend {target['legendFormat']}"
    required = {
        "sitrep_intake_reports_accepted_total",
        "sitrep_intake_reports_rejected_total",
        "sitrep_intake_request_seconds_bucket",
        "sitrep_worker_records_total",
        "sitrep_worker_consumer_lag",
        "sitrep_indexer_documents_total",
        "sitrep_indexer_consumer_lag",
        "sitrep_indexer_retries_total",
        "sitrep_notify_deliveries_total",
        "sitrep_notify_delivery_latency_seconds_bucket",
        "sitrep_web_requests_total",
        "sitrep_web_request_seconds_bucket",
    }
    assert required <= used, required - used


def test_the_datasource_is_a_template_variable() -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    prometheus = {"type": "prometheus", "uid": "${datasource}"}
    for panel in _panels():
        assert panel["datasource"] == prometheus, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == prometheus, panel["title"]
    assert "__inputs" not in dashboard
    assert dashboard["uid"] == "sitrep-pipeline"


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = _dashboard()["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
    for panel in _panels():
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


# --- the table in the README ---------------------------------------------------------------------


def _readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(TABLE_START)
    start = text.index("\n", start) + 1
    end = text.index(TABLE_END)
    return text[start:end].strip("\n") + "\n"


def test_readme_lists_every_metric() -> None:
    table = _readme_table()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    listed = {re.match(r"\| `([^`]+)`", row).group(1) for row in rows}  # type: ignore[union-attr]
    assert listed == {metric.query_name for metric in catalog()}
    assert table == markdown_table(), (
        "the table is out of date: python -m sitrep.metrics_catalog prints the current one"
    )
