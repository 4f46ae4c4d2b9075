"""What a shadow run costs the request path: the same non-streamed chat load through one
gateway process with no shadow run, and while a console shadow run judges a draft (the
shipped policy plus one term) on every request at the default rate limit (20 checks/s)
and at 1000 checks/s (bounded by the queue only). The cases alternate for several rounds
and each figure is the median over the rounds. Prints JSON: latency and throughput per
case, and how many checks the shadow judged and dropped.

    python -m loadtest.bench_shadow [--requests 2000] [--concurrency 1 32] [--rounds 3]

The shadow's work (the draft and the live policy checked again, off the request, on the
same event loop) competes for the same CPU as the load generator and the mock upstream on
this machine, so the numbers are an upper bound for the overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from loadtest import procs
from loadtest.bench_gateway import BODY, run_load

PASSWORD = "bench-password-0123"


def _policy(tmp: Path) -> Path:
    shutil.copytree(procs.ROOT / "policies" / "lexicon", tmp / "lexicon")
    path = tmp / "default.yaml"
    shutil.copy(procs.ROOT / "policies" / "default.yaml", path)
    return path


def _create_user(db: Path) -> None:
    subprocess.run([sys.executable, "-m", "gateway", "console", "create-user", "bench",
                    "--role", "editor", "--password-stdin", "--db", str(db)],
                   input=PASSWORD + "\n", text=True, check=True, cwd=procs.ROOT,
                   capture_output=True)  # fmt: skip


def _console(base: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=60)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text)
    assert token is not None
    client.post("/console/login", data={"csrf": token.group(1), "username": "bench",
                                        "password": PASSWORD, "next": "/console/"})  # fmt: skip
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/").text)
    assert csrf is not None, "console login failed"
    return client, csrf.group(1)


CASES = {"no_shadow": None, "shadow_rate_20": 20, "shadow_rate_1000": 1000}


def _start_shadow(client: httpx.Client, csrf: str, rate: int) -> str:
    client.post("/console/lexicon/add", data={"csrf": csrf, "term": "基准测试专用词",
                                              "category": "A3.05", "level": "3"})  # fmt: skip
    resp = client.post("/console/shadow/start", data={"csrf": csrf, "checks": "10000",
                                                      "percent": "100", "rate": str(rate),
                                                      "hours": "1"})  # fmt: skip
    assert resp.status_code in (302, 303), resp.text[-500:]
    return resp.headers["location"]


def _shadow_counts(client: httpx.Client, url: str) -> dict[str, float]:
    page = client.get(url).text
    evaluated = re.search(r'id="shadow-evaluated">(\d+)<', page)
    dropped = re.search(r'id="shadow-dropped">(\d+)<', page)
    times = re.findall(r"([\d.]+) ms / P95", page)  # live p50, draft p50 (the page's words)
    return {"evaluated": int(evaluated.group(1)) if evaluated else -1,
            "dropped": int(dropped.group(1)) if dropped else -1,
            "live_check_p50_ms": float(times[0]) if times else -1.0,
            "draft_check_p50_ms": float(times[1]) if len(times) > 1 else -1.0}  # fmt: skip


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "benchmark": "shadow_overhead",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} vCPU, "
        f"Python {platform.python_version()}",
        "gateway": "1 uvicorn worker, shipped policy, keyword+PII checks, classifier off, "
        "decision log off",
        "note": "load generator, mock upstream and gateway share the machine's cores",
        "cases": {},
    }
    out["observe_us_per_call"] = await observe_cost()
    with tempfile.TemporaryDirectory() as tmp, procs.mock_upstream() as upstream:
        state = Path(tmp)
        policy = _policy(state)
        db = state / "console.db"
        _create_user(db)
        env = {"GATEWAY_AUDIT_URL": "none", "GATEWAY_CONSOLE_DB": str(db), "GATEWAY_DEV": "1"}
        rounds: dict[str, list[dict[str, Any]]] = {case: [] for case in CASES}
        with procs.gateway(upstream, policy, **env) as gw:
            base = gw.removesuffix("/v1")
            client, csrf = _console(base)
            await run_load(gw, 8, 500, BODY)  # warm-up
            for _ in range(args.rounds):
                for case, rate in CASES.items():
                    run = _start_shadow(client, csrf, rate) if rate else None
                    results: dict[str, Any] = {}
                    for c in args.concurrency:
                        n = args.requests if c > 1 else max(500, args.requests // 4)
                        results[f"c{c}"] = await run_load(gw, c, n, BODY)
                    if run is not None:
                        await asyncio.sleep(2)  # the worker finishes what is queued
                        results["shadow"] = _shadow_counts(client, base + run)
                        client.post("/console/shadow/stop", data={"csrf": csrf})
                    rounds[case].append(results)
    for case, runs in rounds.items():
        summary: dict[str, Any] = {}
        for c in args.concurrency:
            key = f"c{c}"
            summary[key] = {m: round(statistics.median(r[key][m] for r in runs), 3)
                            for m in ("rps", "p50_ms", "p99_ms")}  # fmt: skip
        if CASES[case]:
            summary["shadow_per_round"] = [r["shadow"] for r in runs]
        out["cases"][case] = summary
    base_case = out["cases"]["no_shadow"]
    for case in CASES:
        if not CASES[case]:
            continue
        for c in args.concurrency:
            key = f"c{c}"
            row = out["cases"][case][key]
            row["added_p50_ms"] = round(row["p50_ms"] - base_case[key]["p50_ms"], 3)
            row["rps_change_pct"] = round(100 * (row["rps"] / base_case[key]["rps"] - 1), 1)
    return out


async def observe_cost(calls: int = 100_000) -> dict[str, float]:
    """What ``Shadow.observe`` itself costs a request (the only shadow work on the request
    path), in microseconds per call: no run, a run that samples none (share 1 in a million),
    a run that queues (until the queue is full, then drops)."""
    from gateway.decision import Decision, Direction
    from gateway.moderation.pipeline import CheckContext
    from gateway.policy.compiled import load_policy_set
    from gateway.shadow import Shadow, ShadowPlan

    live = load_policy_set(procs.ROOT / "policies" / "default.yaml")
    decision = Decision(id="d", direction=Direction.INPUT, action=__import__(
        "gateway.decision", fromlist=["Action"]).Action.ALLOW)  # fmt: skip
    ctx = CheckContext("d")
    texts = ["请用两三句话介绍一下杭州西湖的历史和主要景点。"]
    out: dict[str, float] = {}
    for case, share, rate in (("no_run", 0.0, 0.0), ("run_sampling_none", 1e-6, 20.0),
                              ("run_queueing_then_dropping", 1.0, 1e9)):  # fmt: skip
        shadow = Shadow(None, queue_size=calls)
        if case != "no_run":
            shadow.start(ShadowPlan(1, live, share, calls * 2, 3600, rate=rate), lambda: live,
                         lambda batch: None, lambda *a: None)  # fmt: skip
            assert shadow._worker is not None
            shadow._worker.cancel()  # measure the request path alone
        t0 = time.perf_counter()
        for _ in range(calls):
            shadow.observe(Direction.INPUT, texts, decision, ctx)
        out[case] = round((time.perf_counter() - t0) / calls * 1e6, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
