"""docs/operations.md names every metric the functions export, and nothing they do not (a dashboard built from
it queries real series); every metric follows Prometheus' naming (the unit in the name, bounded labels)."""

from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram

from udaconnect.settings import PROJECT_ROOT
from udaconnect.telemetry import metrics

DOCS = PROJECT_ROOT / "docs" / "operations.md"
#: Labels a metric may carry: each has a bounded set of values (never an id, a path or a query).
BOUNDED = {"route", "method", "status", "outcome", "reason", "target", "kind", "database"}


def _exported() -> dict[str, object]:
    found = {}
    for value in vars(metrics).values():
        if isinstance(value, Counter | Gauge | Histogram):
            found[value._name + ("_total" if isinstance(value, Counter) else "")] = value
    return found


def test_the_operations_page_names_every_metric_and_only_those() -> None:
    named = set(re.findall(r"`(udaconnect_[a-z_]+)`", DOCS.read_text()))
    tables = {name for name in named if not name.endswith(("_bucket", "_count", "_sum"))}
    assert set(_exported()) <= tables
    assert {name for name in tables if name not in _exported()} == set()


def test_every_metric_is_named_by_convention() -> None:
    for name, metric in _exported().items():
        assert name.startswith("udaconnect_")
        if isinstance(metric, Histogram):
            assert name.endswith(("_seconds", "_fixes")), f"{name}: a histogram names its unit"
        assert set(metric._labelnames) <= BOUNDED, f"{name}: {metric._labelnames}"


def test_each_function_exports_the_metrics_of_its_own() -> None:
    own = [metric for group in metrics.OWN.values() for metric in group]
    # one function's alone, but for the reads both readers count (connections and encounters, each its own process)
    shared = {"udaconnect_db_reads": {"connections", "encounters"}}
    assert len([m for m in own if m._name not in shared]) == len({id(m) for m in own if m._name not in shared})  # type: ignore[attr-defined]
    for name, functions in shared.items():
        assert {f for f, group in metrics.OWN.items() if any(m._name == name for m in group)} == functions  # type: ignore[attr-defined]
    common = [m for m in _exported().values() if not any(m is o for o in own)]
    assert {m._name for m in common} == {"udaconnect_http_requests", "udaconnect_http_request_duration_seconds",  # type: ignore[attr-defined]
                                         "udaconnect_deliveries"}


#: Series the dashboard reads that other software exports (Strimzi's Kafka exporter: each Trigger's lag).
EXTERNAL = {"kafka_consumergroup_lag"}
_FUNCTIONS = {"sum", "rate", "histogram_quantile", "by", "le", "without", "irate", "increase", "avg", "max", "min"}


def test_every_dashboard_query_names_a_metric_the_code_exports() -> None:
    import json

    dashboard = json.loads((PROJECT_ROOT / "manifests" / "monitoring" / "grafana-dashboard.json").read_text())
    series = set()
    for name, metric in _exported().items():
        series.add(name)
        if isinstance(metric, Histogram):
            series |= {f"{metric._name}_{part}" for part in ("bucket", "sum", "count")}
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = re.sub(r"\{[^}]*\}|\"[^\"]*\"|\[[^\]]*\]", "", target["expr"])  # selectors, strings, ranges
            names = set(re.findall(r"[a-z_][a-z0-9_]*", expr)) - _FUNCTIONS
            names = {n for n in names if "_" in n}  # label names in by (...) are one word: route, reason, ...
            assert names, f"{panel['title']}: no metric in {target['expr']}"
            assert names <= series | EXTERNAL, f"{panel['title']}: {names - series - EXTERNAL} is not exported"
            queried |= names
    assert {"udaconnect_ingest_fixes_accepted_total", "udaconnect_persist_commit_duration_seconds_bucket",
            "udaconnect_deliveries_total", "kafka_consumergroup_lag"} <= queried
