"""Check Grafana dashboards and Prometheus rules against the metrics the gateway exports.

Every query of every panel (rows included), every query variable and every rule
expression must select only metric names that ``gateway/metrics.py`` declares (with their
wire suffixes), that Prometheus itself makes (``up``), or, in rule files, that a recording
rule of the same file defines. ``--promtool-rules FILE`` also writes every dashboard query
as a recording rule, so that ``promtool check rules FILE`` proves each one parses as PromQL.

    python deploy/tools/check_metric_refs.py --rules deploy/prometheus/alerts.yaml \
        deploy/grafana/dashboards/gateway.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``deploy.tools`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import yaml

from deploy.tools.metric_names import gateway_wire_names
from deploy.tools.promql_names import metric_names, substitute_grafana_variables

# Series Prometheus produces itself, not the gateway.
PROMETHEUS_BUILTINS = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", re.S)


@dataclass(frozen=True)
class Query:
    where: str  # "panel 3 'Block rate' target A" or "variable instance"
    expr: str


def queries(dashboard: dict[str, Any]) -> Iterator[Query]:
    """Every PromQL query in the dashboard, with where it lives."""
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            expr = target.get("expr")
            if expr is not None:
                where = (
                    f"panel {panel.get('id')} {panel.get('title')!r} target {target.get('refId')}"
                )
                yield Query(where, str(expr))
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        raw = var.get("query")
        text = raw.get("query", "") if isinstance(raw, dict) else str(raw or "")
        match = _LABEL_VALUES.match(text)
        yield Query(f"variable {var.get('name')}", match.group(1) if match else text)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # collapsed rows keep their children


def rule_queries(rules: dict[str, Any]) -> Iterator[Query]:
    """Every expression of a Prometheus rule file, with the rule's name."""
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            yield Query(f"rule {name}", str(rule.get("expr", "")))


def recorded_names(rules: dict[str, Any]) -> frozenset[str]:
    """Series names the file's recording rules define."""
    return frozenset(
        str(rule["record"])
        for group in rules.get("groups", [])
        for rule in group.get("rules", [])
        if "record" in rule
    )


def problems(dashboard: dict[str, Any], known: frozenset[str]) -> list[str]:
    """Human-readable problems; empty when the dashboard is consistent with the metrics."""
    found = query_problems(list(queries(dashboard)), known)
    ids = [p.get("id") for p in _panels(dashboard.get("panels", []))]
    duplicates = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    if duplicates:
        found.append(f"duplicate panel ids: {duplicates}")
    return found


def rule_problems(rules: dict[str, Any], known: frozenset[str]) -> list[str]:
    """Problems of a rule file: unknown metrics, or alerts without their annotations."""
    found = query_problems(list(rule_queries(rules)), known | recorded_names(rules))
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" not in rule:
                continue
            notes = rule.get("annotations", {})
            missing = [k for k in ("summary", "description", "runbook_url") if not notes.get(k)]
            if missing:
                found.append(f"alert {rule['alert']}: missing annotations {missing}")
            if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                found.append(f"alert {rule['alert']}: severity label must be critical|warning|info")
    return found


def query_problems(all_queries: Iterable[Query], known: frozenset[str]) -> list[str]:
    """Empty, unparseable or unknown-metric queries."""
    found: list[str] = []
    allowed = known | PROMETHEUS_BUILTINS
    listed = list(all_queries)
    if not listed:
        found.append("no queries found")
    for query in listed:
        if not query.expr.strip():
            found.append(f"{query.where}: empty expression")
            continue
        try:
            used = metric_names(query.expr)
        except ValueError as exc:
            found.append(f"{query.where}: {exc}")
            continue
        if not used:
            found.append(f"{query.where}: selects no metric: {query.expr}")
        for name in sorted(used - allowed):
            found.append(f"{query.where}: unknown metric {name!r} (not in gateway/metrics.py)")
    return found


def promtool_rules(all_queries: Iterable[Query]) -> dict[str, Any]:
    """A rule file with one recording rule per query, for ``promtool check rules``."""
    rules = [
        {"record": f"dashboard:query_{n}", "expr": substitute_grafana_variables(q.expr)}
        for n, q in enumerate(all_queries)
    ]
    return {"groups": [{"name": "dashboard-queries", "rules": rules}]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check queries against the gateway's metrics.")
    parser.add_argument("dashboards", nargs="*", type=Path, help="Grafana dashboard JSON files")
    parser.add_argument("--rules", type=Path, action="append", default=[], help="rule file")
    parser.add_argument("--promtool-rules", type=Path, help="write dashboard queries as rules")
    args = parser.parse_args(argv)
    known = gateway_wire_names()
    found: list[str] = []
    dashboard_queries: list[Query] = []
    for path in args.dashboards:
        dashboard = json.loads(path.read_text("utf-8"))
        dashboard_queries += queries(dashboard)
        found += [f"{path}: {p}" for p in problems(dashboard, known)]
    for path in args.rules:
        rules = yaml.safe_load(path.read_text("utf-8"))
        found += [f"{path}: {p}" for p in rule_problems(rules, known)]
    if args.promtool_rules is not None:
        # JSON is valid YAML, so promtool reads it as a rule file.
        args.promtool_rules.write_text(json.dumps(promtool_rules(dashboard_queries), indent=1))
    for problem in found:
        print(problem, file=sys.stderr)
    print(
        f"{len(dashboard_queries)} dashboard queries and {len(args.rules)} rule file(s) checked "
        f"against {len(known)} gateway series names: {len(found)} problem(s)"
    )
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
