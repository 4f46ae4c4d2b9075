"""Prometheus alert rules, their promtool unit tests and the scrape configuration."""

from __future__ import annotations

import re
from typing import Any

from deploy.tools.check_metric_refs import rule_problems
from deploy.tools.metric_names import gateway_wire_names
from tests.support.deploy import ALERTS, ALERTS_TEST, DEPLOY, OPERATIONS_DOC, load_yaml

REQUIRED_ALERTS = {
    "GatewayBlockRateSpike",
    "ClassifierQueueSaturated",
    "GatewayUpstreamErrorRate",
    "GatewayFailOpen",
    "GatewayAuditWriteFailures",
    "GatewayPolicyReloadFailures",
    "GatewayDown",
}


def _alerts() -> list[dict[str, Any]]:
    doc = load_yaml(ALERTS)
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_rules_reference_known_metrics_and_carry_annotations() -> None:
    assert rule_problems(load_yaml(ALERTS), gateway_wire_names()) == []


def test_required_alerts_exist() -> None:
    assert REQUIRED_ALERTS <= {a["alert"] for a in _alerts()}


def test_policy_reload_alert_uses_the_reload_failure_counter() -> None:
    (alert,) = [a for a in _alerts() if a["alert"] == "GatewayPolicyReloadFailures"]
    assert "gateway_policy_reload_failures_total" in alert["expr"]


def test_rule_check_catches_missing_annotations_and_unknown_metrics() -> None:
    rules = {"groups": [{"name": "g", "rules": [
        {"alert": "A", "expr": "gateway_nope_total > 0", "labels": {"severity": "page"},
         "annotations": {"summary": "s"}},
    ]}]}  # fmt: skip
    found = rule_problems(rules, gateway_wire_names())
    assert any("unknown metric 'gateway_nope_total'" in p for p in found)
    assert any("missing annotations ['description', 'runbook_url']" in p for p in found)
    assert any("severity" in p for p in found)


def test_every_runbook_link_has_a_section_in_operations_doc() -> None:
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS_DOC.read_text("utf-8").splitlines()
        if line.startswith("#")
    }
    for alert in _alerts():
        url = alert["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/operations.md", url
        assert anchor == alert["alert"].lower(), url
        assert anchor in headings, f"docs/operations.md has no heading for {url}"


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in load_yaml(ALERTS_TEST)["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {a["alert"] for a in _alerts()}
    assert names - fired == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested staying quiet"


def test_prometheus_config_loads_the_rules_and_scrapes_the_gateway() -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    for rule_file in config["rule_files"]:
        assert (DEPLOY / "prometheus" / rule_file).is_file()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["gateway"]["metrics_path"] == "/metrics"
    assert jobs["gateway"]["static_configs"][0]["targets"] == ["gateway:8080"]
