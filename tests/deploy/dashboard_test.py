"""The Grafana dashboard and the PromQL helpers behind its check."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from deploy.tools import dashboard
from deploy.tools.check_metric_refs import problems, promtool_rules, queries
from deploy.tools.metric_names import declared_metrics, gateway_wire_names, wire_names
from deploy.tools.promql_names import metric_names, substitute_grafana_variables
from gateway.metrics import Metrics
from tests.support.deploy import DASHBOARD, ROOT, load_json

_TYPES = {"counter": "Counter", "gauge": "Gauge", "histogram": "Histogram"}


def test_source_scan_finds_exactly_the_registered_metrics() -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    registered = {family.name: _TYPES[family.type] for family in registry.collect()}
    scanned = declared_metrics((ROOT / "gateway" / "metrics.py").read_text("utf-8"))
    assert scanned == registered


def test_wire_names_carry_prometheus_suffixes() -> None:
    names = wire_names({"a": "Counter", "b": "Histogram", "c": "Gauge"})
    assert {"a_total", "b_bucket", "b_sum", "b_count", "c"} <= names
    assert "a" not in names and "b" not in names


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            'sum by (route) (rate(gateway_requests_total{route="x"}[5m]))',
            {"gateway_requests_total"},
        ),
        ("histogram_quantile(0.99, sum(rate(h_bucket[$__rate_interval])) by (le))", {"h_bucket"}),
        ("a / on (instance) group_left (version) b", {"a", "b"}),
        ("x offset 1d > bool 3", {"x"}),
        ("count(count by (version) (info == 1)) > 1", {"info"}),
        ("1e-9 + level:metric:rate5m", {"level:metric:rate5m"}),
        ('absent(up{job="gateway", path="a{b}c"} == 1)', {"up"}),
        ("sum without (pod) (rate(m[5m])) and on () vector(1)", {"m"}),
    ],
)
def test_metric_names_skips_functions_labels_and_keywords(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


def test_metric_names_rejects_unbalanced_brackets() -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        metric_names("sum(rate(m{a='b'[5m])")


def test_grafana_variables_become_parseable_values() -> None:
    expr = 'rate(m{instance=~"$instance", x=~"${x:regex}"}[$__rate_interval])'
    assert substitute_grafana_variables(expr) == 'rate(m{instance=~".*", x=~".*"}[5m])'


def test_committed_dashboard_is_what_the_generator_produces() -> None:
    assert DASHBOARD.read_text("utf-8") == dashboard.render()


def test_dashboard_uses_only_gateway_metrics() -> None:
    assert problems(load_json(DASHBOARD), gateway_wire_names()) == []


def test_check_reports_an_unknown_metric() -> None:
    board: dict[str, Any] = copy.deepcopy(load_json(DASHBOARD))
    board["panels"][1]["targets"][0]["expr"] = "rate(gateway_requests_count[5m])"
    found = problems(board, gateway_wire_names())
    assert len(found) == 1 and "unknown metric 'gateway_requests_count'" in found[0]


def test_check_reports_duplicate_panel_ids_and_empty_queries() -> None:
    board: dict[str, Any] = copy.deepcopy(load_json(DASHBOARD))
    board["panels"][2]["id"] = board["panels"][1]["id"]
    board["panels"][3]["targets"][0]["expr"] = " "
    found = problems(board, gateway_wire_names())
    assert any("duplicate panel ids" in p for p in found)
    assert any("empty expression" in p for p in found)


def test_every_gateway_metric_is_on_the_dashboard() -> None:
    used: set[str] = set()
    for query in queries(load_json(DASHBOARD)):
        used |= metric_names(query.expr)
    declared = declared_metrics((ROOT / "gateway" / "metrics.py").read_text("utf-8"))
    missing = [name for name, kind in declared.items() if not wire_names({name: kind}) & used]
    assert missing == []


def test_dashboard_covers_what_sres_watch() -> None:
    titles = " | ".join(
        p["title"].lower() for p in load_json(DASHBOARD)["panels"] if p["type"] != "row"
    )
    for topic in (
        "request rate", "latency", "decisions by action", "decisions by category", "block rate",
        "stage latency", "hold-back", "upstream latency", "upstream errors", "batch size",
        "queue depth", "queue wait", "inference", "cache hit", "audit write latency",
        "audit write errors", "fail-open", "policy version", "policy reload",
    ):  # fmt: skip
        assert topic in titles, topic


def test_panels_fit_the_grid_and_use_the_datasource_variable() -> None:
    for panel in load_json(DASHBOARD)["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"], panel["title"]


def test_promtool_rule_file_has_one_rule_per_query() -> None:
    board = load_json(DASHBOARD)
    rules = promtool_rules(queries(board))["groups"][0]["rules"]
    assert len(rules) == len(list(queries(board)))
    assert all("$" not in r["expr"] for r in rules)
