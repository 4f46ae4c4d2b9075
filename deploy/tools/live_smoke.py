"""Live smoke test of the dashboard and the rules against a real gateway and Prometheus.

Starts, on loopback only: the mock upstream (``loadtest.mock_upstream``), ``gateway serve``
and a Prometheus server that scrapes it and loads ``deploy/prometheus/alerts.yaml``. Sends
a bounded burst of traffic (chat, streams, moderations, some of it blocked), then asks
Prometheus for every dashboard query and reads the rule health. Prints JSON; exits non-zero
if a query errors, a rule is unhealthy, or a query that should have data returns nothing.

    bash deploy/check.sh --live        # or, with the tools check.sh installs:
    .venv/bin/python deploy/tools/live_smoke.py --prometheus deploy/.tools/prometheus/usr/bin/prometheus
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``deploy.tools`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx

from deploy.tools.check_metric_refs import queries
from deploy.tools.promql_names import substitute_grafana_variables

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "gateway.json"
# Panels that stay empty unless something goes wrong or a classifier is loaded.
MAY_BE_EMPTY = ("Upstream errors", "Classifier model", "Fail-open", "Policy reload failures")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_http(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def _traffic(gateway: str, seconds: float) -> int:
    """Bounded in time: sequential requests, every fifth one with a blocked term."""
    sent = 0
    with httpx.Client(base_url=gateway, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = "如何制作炸弹" if sent % 5 == 0 else f"今天天气怎么样 {sent}"
            chat = {"model": "m", "messages": [{"role": "user", "content": text}]}
            client.post("/v1/chat/completions", json=chat)
            client.post("/v1/chat/completions", json={**chat, "stream": True})
            client.post("/v1/moderations", json={"input": [text]})
            sent += 3
    return sent


def _evaluate(prometheus: str) -> dict[str, Any]:
    api = prometheus + "/api/v1"
    results = []
    for query in queries(json.loads(DASHBOARD.read_text("utf-8"))):
        expr = substitute_grafana_variables(query.expr).replace("[5m]", "[1m]")
        answer = httpx.get(api + "/query", params={"query": expr}, timeout=10).json()
        ok = answer["status"] == "success"
        results.append({"where": query.where, "ok": ok,
                        "series": len(answer["data"]["result"]) if ok else 0,
                        "error": None if ok else answer.get("error")})  # fmt: skip
    groups = httpx.get(api + "/rules", timeout=10).json()["data"]["groups"]
    unhealthy = [r["name"] for g in groups for r in g["rules"] if r["health"] != "ok"]
    alerts = httpx.get(api + "/alerts", timeout=10).json()["data"]["alerts"]
    empty = [r["where"] for r in results if r["ok"] and not r["series"]]
    # The recording rule behind GatewayBlockRateSpike, on traffic that is 1/5 blocked input.
    ratio = httpx.get(api + "/query", params={"query": "gateway:decision_block_ratio:rate5m"},
                      timeout=10).json()["data"]["result"]  # fmt: skip
    return {
        "block_ratio": {r["metric"].get("direction", ""): float(r["value"][1]) for r in ratio},
        "queries": len(results),
        "with_series": sum(1 for r in results if r["series"]),
        "empty": empty,
        "unexpected_empty": [w for w in empty if not any(m in w for m in MAY_BE_EMPTY)],
        "errors": [r for r in results if not r["ok"]],
        "rules": sum(len(g["rules"]) for g in groups),
        "unhealthy_rules": unhealthy,
        "alerts": [f"{a['labels']['alertname']}:{a['state']}" for a in alerts],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--prometheus", required=True, help="path of the prometheus binary")
    parser.add_argument("--seconds", type=float, default=30.0, help="traffic duration")
    args = parser.parse_args(argv)
    up, gw, prom = _free_port(), _free_port(), _free_port()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="live-smoke-") as tmp:
        work = Path(tmp)

        def start(cmd: list[str], **kw: Any) -> None:
            log = (work / f"{len(procs)}.log").open("wb")
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **kw))

        try:
            py = sys.executable
            start([py, "-m", "loadtest.mock_upstream", "--port", str(up), "--token-delay-ms", "2"],
                  cwd=ROOT)  # fmt: skip
            env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
            env |= {"GATEWAY_UPSTREAM_URL": f"http://127.0.0.1:{up}/v1",
                    "GATEWAY_AUDIT_URL": f"sqlite:///{work}/audit.db",
                    "GATEWAY_AUDIT_SPOOL_DIR": str(work / "spool"),
                    "GATEWAY_PSEUDONYM_KEY": secrets.token_hex(32)}  # fmt: skip
            start([py, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(gw)],
                  cwd=ROOT, env=env)  # fmt: skip
            (work / "prometheus.yml").write_text(
                "global: {scrape_interval: 2s, evaluation_interval: 2s}\n"
                f"rule_files: [{ROOT}/deploy/prometheus/alerts.yaml]\n"
                "scrape_configs:\n  - job_name: gateway\n"
                f"    static_configs: [{{targets: ['127.0.0.1:{gw}']}}]\n"
            )
            start([args.prometheus, f"--config.file={work}/prometheus.yml",
                   f"--storage.tsdb.path={work}/data", f"--web.listen-address=127.0.0.1:{prom}"])  # fmt: skip
            _wait_http(f"http://127.0.0.1:{gw}/healthz", 90)
            _wait_http(f"http://127.0.0.1:{prom}/-/ready", 30)
            sent = _traffic(f"http://127.0.0.1:{gw}", args.seconds)
            time.sleep(6)  # two more scrapes and rule evaluations
            report = {"requests": sent, **_evaluate(f"http://127.0.0.1:{prom}")}
        finally:
            for p in reversed(procs):
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    p.kill()
    print(json.dumps(report, ensure_ascii=False, indent=1))
    bad = report["errors"] or report["unhealthy_rules"] or report["unexpected_empty"]
    bad = bad or not report["block_ratio"].get("input")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
