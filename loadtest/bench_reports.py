"""Complaints: how fast the gateway files reports, and what a scrape's ticket count costs.
Prints JSON.

    python -m loadtest.bench_reports [--reports 1000] [--concurrency 1 16]

One gateway process (decision log and tickets in one SQLite file, fsync per commit), the
shipped policy with its rate limits lifted. Cases: reports of distinct decisions (each a
new ticket: two decision-log lookups and one transaction), reports of one decision (each
merged into its ticket), and ``/metrics`` scrapes with all those tickets in the store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from loadtest import procs

HEADERS = {"content-type": "application/json"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _policy(tmp: Path) -> Path:
    """The shipped policy, with limits no benchmark from one address can reach."""
    shutil.copytree(procs.ROOT / "policies" / "lexicon", tmp / "lexicon")
    text = (procs.ROOT / "policies" / "default.yaml").read_text("utf-8")
    text = text.replace("per_source: {count: 60, seconds: 3600}",
                        "per_source: {count: 100000000, seconds: 60}")  # fmt: skip
    assert "100000000" in text
    path = tmp / "bench.yaml"
    path.write_text(text, "utf-8")
    return path


async def _decisions(session: aiohttp.ClientSession, url: str, n: int) -> list[str]:
    body = orjson.dumps({"model": "bench", "messages": [{"role": "user", "content": "你好"}],
                         "mock_reply": "这是一个回答。"})  # fmt: skip
    out = []
    for _ in range(n):
        async with session.post(url + "/chat/completions", data=body, headers=HEADERS) as r:
            await r.read()
            out.append(r.headers["x-gateway-decision-id"])
    return out


async def _file(session: aiohttp.ClientSession, url: str, bodies: list[bytes],
                concurrency: int) -> dict[str, Any]:  # fmt: skip
    latencies: list[float] = []
    errors = 0
    queue = iter(bodies)

    async def worker() -> None:
        nonlocal errors
        for body in queue:
            t0 = time.perf_counter()
            async with session.post(url + "/reports", data=body, headers=HEADERS) as r:
                await r.read()
                errors += r.status != 200
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "reports": len(bodies), "errors": errors, "rps": round(len(bodies) / elapsed, 1),
        "p50_ms": round(pct(latencies, 0.5) * 1000, 3),
        "p99_ms": round(pct(latencies, 0.99) * 1000, 3),
    }  # fmt: skip


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "benchmark": "reports",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} vCPU, Python {platform.python_version()}",
        "gateway": "1 uvicorn worker; decision log and tickets in one SQLite file (fsync per commit)",
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as state, procs.mock_upstream() as upstream:
        env = {"GATEWAY_AUDIT_URL": f"sqlite:///{state}/audit.db",
               "GATEWAY_AUDIT_SPOOL_DIR": f"{state}/spool", "GATEWAY_DEV": "1"}  # fmt: skip
        with procs.gateway(upstream, _policy(Path(state)), **env) as gw:
            connector = aiohttp.TCPConnector(limit=max(args.concurrency))
            async with aiohttp.ClientSession(connector=connector) as session:
                for c in args.concurrency:
                    decisions = await _decisions(session, gw, args.reports)
                    bodies = [orjson.dumps({"decision_id": d, "reason": "false_information"})
                              for d in decisions]  # fmt: skip
                    out["cases"][f"new_ticket_c{c}"] = await _file(session, gw, bodies, c)
                [one] = await _decisions(session, gw, 1)
                same = [orjson.dumps({"decision_id": one, "reason": "terrorism"})] * args.reports
                c = max(args.concurrency)
                out["cases"][f"merged_c{c}"] = await _file(session, gw, same, c)
                base = gw.removesuffix("/v1")
                scrapes = []
                for _ in range(50):
                    t0 = time.perf_counter()
                    async with session.get(base + "/metrics") as r:
                        await r.read()
                    scrapes.append(time.perf_counter() - t0)
                tickets = len(args.concurrency) * args.reports + 1
                out["cases"]["metrics_scrape"] = {
                    "tickets": tickets, "p50_ms": round(statistics.median(scrapes) * 1000, 3),
                }  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reports", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = ap.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
