"""Build the Grafana dashboard ``deploy/grafana/dashboards/gateway.json`` from code.

The JSON is generated so that every query is written once, with the same instance filter
and rate window, and so that a test can check that the committed file is what this module
produces. Regenerate after editing:

    python deploy/tools/dashboard.py --write
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parents[1] / "grafana" / "dashboards" / "gateway.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"


def sel(metric: str, matchers: str = "") -> str:
    """A selector restricted to the dashboard's instance variable."""
    extra = f", {matchers}" if matchers else ""
    return f'{metric}{{instance=~"$instance"{extra}}}'


def quantile(q: float, histogram: str, by: str = "", matchers: str = "") -> str:
    labels = f"le, {by}" if by else "le"
    inner = f"sum by ({labels}) (rate({sel(histogram + '_bucket', matchers)}[{RATE}]))"
    return f"histogram_quantile({q}, {inner})"


def percentiles(histogram: str, by: str = "", matchers: str = "") -> list[tuple[str, str]]:
    """p50/p95/p99 targets; the legend names the quantile and the grouping label."""
    suffix = f" {{{{{by}}}}}" if by else ""
    return [
        (quantile(q, histogram, by, matchers), f"p{round(q * 100)}{suffix}")
        for q in (0.5, 0.95, 0.99)
    ]


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    targets: list[tuple[str, str]]  # (expr, legend)
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    title: str
    panels: list[Panel]


def rows() -> list[Row]:
    """Every row and panel of the dashboard, top to bottom."""
    api = 'route!~"healthz|readyz|metrics"'
    not_allowed, blocked = 'action!="allow"', 'action="block"'
    escalated = 'stage="second"'
    return [
        Row("Traffic", [
            Panel("Request rate by route", "HTTP requests per second, by route.",
                  [(f"sum by (route) (rate({sel('gateway_requests_total')}[{RATE}]))", "{{route}}")],
                  unit="reqps", width=8),
            Panel("Responses by status", "Responses per second by HTTP status (probes excluded).",
                  [(f"sum by (status) (rate({sel('gateway_requests_total', api)}[{RATE}]))", "{{status}}")],
                  unit="reqps", width=8),
            Panel("Replicas up", "Scraped targets that answer, per job.",
                  [('sum by (job) (up{job=~"gateway|classifier"})', "{{job}}")], width=8),
            Panel("Request latency p99 by route", "Time to the end of the response (streams included).",
                  [(quantile(0.99, "gateway_request_duration_seconds", "route", api), "{{route}}")],
                  unit="s"),
            Panel("Request latency percentiles", "p50/p95/p99 over all API routes.",
                  percentiles("gateway_request_duration_seconds", matchers=api), unit="s"),
        ]),
        Row("Moderation", [
            Panel("Decisions by action", "Moderation decisions per second by direction and action.",
                  [(f"sum by (direction, action) (rate({sel('gateway_decisions_total')}[{RATE}]))",
                    "{{direction}} {{action}}")], unit="ops", width=8),
            Panel("Decisions by category (not allowed)", "Non-allow decisions by taxonomy code.",
                  [(f"sum by (category) (rate({sel('gateway_decisions_total', not_allowed)}[{RATE}]))",
                    "{{category}}")], unit="ops", width=8),
            Panel("Block rate", "Share of decisions that block, per direction.",
                  [(f"sum by (direction) (rate({sel('gateway_decisions_total', blocked)}[{RATE}]))"
                    f" / clamp_min(sum by (direction) (rate({sel('gateway_decisions_total')}[{RATE}])), 1e-9)",
                    "{{direction}}")], unit="percentunit", width=8),
            Panel("Moderation stage latency p99", "Time per pipeline stage (normalize, lexicon, classifier ...).",
                  [(quantile(0.99, "gateway_moderation_duration_seconds", "direction, stage"),
                    "{{direction}} {{stage}}")], unit="s"),
            Panel("Stream hold-back", "Characters held back when a stream chunk is released.",
                  percentiles("gateway_stream_holdback_chars"), unit="none"),
        ]),
        Row("Upstream LLM", [
            Panel("Upstream latency (time to headers)", "Upstream time to response headers.",
                  percentiles("gateway_upstream_duration_seconds"), unit="s"),
            Panel("Upstream errors by kind", "Failed upstream calls per second.",
                  [(f"sum by (kind) (rate({sel('gateway_upstream_errors_total')}[{RATE}]))", "{{kind}}")],
                  unit="ops"),
        ]),
        Row("Classifier", [
            Panel("Batch size", "Texts per model call (mean and p99).",
                  [(f"sum(rate({sel('classifier_batch_size_sum')}[{RATE}])) / "
                    f"sum(rate({sel('classifier_batch_size_count')}[{RATE}]))", "mean"),
                   (quantile(0.99, "classifier_batch_size"), "p99")], width=8),
            Panel("Batch tokens", "Padded tokens per model call (mean).",
                  [(f"sum(rate({sel('classifier_batch_tokens_sum')}[{RATE}])) / "
                    f"sum(rate({sel('classifier_batch_tokens_count')}[{RATE}]))", "mean")], width=8),
            Panel("Queue depth", "Texts waiting for the model, per replica.",
                  [(f"sum by (instance) ({sel('classifier_queue_depth')})", "{{instance}}")], width=8),
            Panel("Queue wait", "Time a text waits before its batch runs.",
                  percentiles("classifier_queue_wait_seconds"), unit="s", width=8),
            Panel("Inference time per batch", "Model forward time per batch.",
                  percentiles("classifier_inference_seconds"), unit="s", width=8),
            Panel("Verdict cache hit ratio", "Cache hits over lookups.",
                  [(f"sum(rate({sel('classifier_cache_hits_total')}[{RATE}])) / clamp_min("
                    f"sum(rate({sel('classifier_cache_hits_total')}[{RATE}])) + "
                    f"sum(rate({sel('classifier_cache_misses_total')}[{RATE}])), 1e-9)", "hit ratio")],
                  unit="percentunit", width=8),
            Panel("Verdict cache Redis errors", "Redis failures; the cache is skipped for a while.",
                  [(f"sum(rate({sel('classifier_cache_errors_total')}[{RATE}]))", "errors")],
                  unit="ops", width=8),
            Panel("Classifier model", "Model name, version, device and dtype per replica.",
                  [(f"max by (name, version, device, dtype) ({sel('classifier_model_info')})",
                    "{{name}} {{version}} {{device}} {{dtype}}")], kind="table", width=24,
                  options={"format": "table", "instant": True}),
        ]),
        Row("Served classifiers and cascades", [
            Panel("Served classifier calls by outcome",
                  "Calls to classifiers on serving engines (vLLM, TEI, KServe, other gateways) "
                  "per second, by backend, stage (primary / second) and outcome.",
                  [(f"sum by (backend, stage, outcome) (rate({sel('classifier_remote_requests_total')}[{RATE}]))",
                    "{{backend}} {{stage}} {{outcome}}")], unit="ops", width=8),
            Panel("Served classifier call latency", "Time per call to a served classifier, by stage.",
                  percentiles("classifier_remote_request_seconds", by="stage"), unit="s", width=8),
            Panel("Served classifier batch and queue",
                  "Texts per call (mean) and texts waiting for a call, by stage.",
                  [(f"sum by (stage) (rate({sel('classifier_remote_batch_texts_sum')}[{RATE}])) / "
                    f"clamp_min(sum by (stage) (rate({sel('classifier_remote_batch_texts_count')}[{RATE}])), 1e-9)",
                    "texts per call {{stage}}"),
                   (f"sum by (stage) ({sel('classifier_remote_queue_depth')})", "queued {{stage}}")],
                  width=8),
            Panel("Cascade escalation rate", "Share of texts the first classifier was unsure of, "
                  "sent to the second (policy cascade bands).",
                  [(f"sum by (direction) (rate({sel('classifier_cascade_texts_total', escalated)}[{RATE}]))"
                    f" / clamp_min(sum by (direction) (rate({sel('classifier_cascade_texts_total')}[{RATE}])), 1e-9)",
                    "{{direction}}")], unit="percentunit", width=8),
            Panel("Cascade outcomes", "What the second stage did to escalated texts: upheld, "
                  "raised or lowered the classifier's action, or did not answer in time.",
                  [(f"sum by (direction, outcome) (rate({sel('classifier_cascade_outcomes_total')}[{RATE}]))",
                    "{{direction}} {{outcome}}")], unit="ops", width=8),
            Panel("Cascade wait", "Time a check waits for the second stage (bounded by the "
                  "policy's budget_ms).", percentiles("classifier_cascade_seconds"), unit="s", width=8),
        ]),
        Row("Decision log, fail-open and policy", [
            Panel("Audit write latency", "Decision-log commit latency.",
                  percentiles("gateway_audit_write_seconds"), unit="s", width=8),
            Panel("Audit write errors", "Decision-log write failures per second.",
                  [(f"sum(rate({sel('gateway_audit_errors_total')}[{RATE}]))", "errors")],
                  unit="ops", width=8),
            Panel("Fail-open events", "Requests let through because a check was unavailable.",
                  [(f"sum by (reason) (increase({sel('gateway_fail_open_total')}[{RATE}]))", "{{reason}}")],
                  width=8),
            Panel("Policy reload failures", "Policy files refused on reload (in the window).",
                  [(f"sum by (instance) (increase({sel('gateway_policy_reload_failures_total')}[{RATE}]))",
                    "{{instance}}")], width=12),
            Panel("Active policy version", "Replicas per active policy version hash.",
                  [(f"count by (version) ({sel('gateway_policy_info')} == 1)", "{{version}}")],
                  kind="table", width=12, options={"format": "table", "instant": True}),
        ]),
        Row("Complaints and reports", [
            Panel("Complaint tickets", "Tickets not closed and tickets unanswered past their "
                  "deadline (every replica counts the same store: max).",
                  [(f"max({sel('gateway_reports_open')})", "not closed"),
                   (f"max({sel('gateway_reports_overdue')})", "overdue")], width=12),
            Panel("Reports received", "Reports per second by entry point (API or the public page).",
                  [(f"sum by (source) (rate({sel('gateway_reports_received_total')}[{RATE}]))",
                    "{{source}}")], unit="ops", width=12),
        ]),
    ]  # fmt: skip


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = []
    for ref, (expr, legend) in enumerate(panel.targets):
        target: dict[str, Any] = {
            "datasource": DATASOURCE,
            "expr": expr,
            "legendFormat": legend,
            "refId": chr(ord("A") + ref),
        }
        target.update(panel.options)
        targets.append(target)
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": targets,
    }


def _variables() -> list[dict[str, Any]]:
    return [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0},
        {"name": "instance", "label": "Instance", "type": "query", "datasource": DATASOURCE,
         "query": {"query": 'label_values(up{job=~"gateway|classifier"}, instance)', "refId": "instance"},
         "definition": 'label_values(up{job=~"gateway|classifier"}, instance)',
         "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "current": {}, "hide": 0},
    ]  # fmt: skip


def build() -> dict[str, Any]:
    """The dashboard as a JSON-ready dict (Grafana schema version 39)."""
    panels: list[dict[str, Any]] = []
    y, next_id = 0, 1
    for row in rows():
        panels.append({"id": next_id, "type": "row", "title": row.title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})  # fmt: skip
        next_id, y, x = next_id + 1, y + 1, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y = 0, y + 8
            panels.append(_panel_json(panel, next_id, x, y))
            next_id, x = next_id + 1, x + panel.width
        y += 8
    return {
        "uid": "moderation-gateway",
        "title": "Moderation gateway",
        "description": "Traffic, moderation decisions, upstream, classifier, decision log. "
        "Metric meanings: docs/operations.md.",
        "tags": ["gateway", "moderation"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {"list": _variables()},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help=f"write {OUTPUT} instead of stdout")
    args = parser.parse_args(argv)
    if args.write:
        OUTPUT.write_text(render(), "utf-8")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
