"""Long and hostile texts: time per MB, the event loop meanwhile, and memory. Prints JSON.

    python -m loadtest.bench_dos [--classifier auto|none|DIR] [--requests 100]

Three measurements, side by side in one run:

- ``normalize``: ``gateway.lexicon.normalize`` alone on texts of 1 KB to 4 MB (Chinese,
  mixed, and the ``"好 " * n`` shape that was quadratic): seconds per MB should stay flat.
- ``requests``: ``POST /v1/chat/completions`` through a real gateway with bodies of 1 KB to
  4 MB, each sent while another client polls ``/healthz`` every 10 ms; reports the answer's
  status and seconds per MB, and the worst ``/healthz`` latency meanwhile. Bodies over the
  policy's ``limits.max_request_chars`` answer 413 at once.
- ``memory``: the gateway's resident memory before and after ``--requests`` long requests
  of different lengths (it must stay flat: no per-length cache).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gateway.lexicon.normalize import normalize
from loadtest import procs

SIZES = [1_000, 10_000, 100_000, 400_000, 1_000_000, 4_000_000]
_ZH = "今天天气很好，我们去公园散步吧。这是一段普通的中文文字，用来测试网关的速度。"
_MIXED = "Hello 世界！ The gateway checks every text 😀 ① 炸\u200b弹 e\u0301 — fine. "


def _text(kind: str, size_bytes: int) -> str:
    unit = {"zh": _ZH, "mixed": _MIXED, "spaced": "好 "}[kind]
    per = len(unit.encode())
    return unit * max(1, size_bytes // per)


def bench_normalize() -> list[dict[str, Any]]:
    rows = []
    for kind in ("zh", "mixed", "spaced"):
        for size in SIZES:
            text = _text(kind, size)
            normalize(text[:100])
            t0 = time.perf_counter()
            normalize(text)
            dt = time.perf_counter() - t0
            mb = len(text.encode()) / 1e6
            rows.append({"kind": kind, "bytes": len(text.encode()), "chars": len(text),
                         "seconds": round(dt, 4), "seconds_per_mb": round(dt / mb, 3)})  # fmt: skip
    return rows


async def _poll_health(
    session: aiohttp.ClientSession, url: str, stop: asyncio.Event
) -> list[float]:
    latencies = []
    while not stop.is_set():
        t0 = time.perf_counter()
        async with session.get(url) as r:
            await r.read()
        latencies.append(time.perf_counter() - t0)
        await asyncio.sleep(0.01)
    return latencies


async def bench_requests(base: str) -> list[dict[str, Any]]:
    rows = []
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for kind in ("zh", "spaced", "mixed"):
            for size in SIZES:
                text = _text(kind, size)
                body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}],
                                     "mock_reply": "好的。"})  # fmt: skip
                stop = asyncio.Event()
                poller = asyncio.create_task(_poll_health(session, base + "/healthz", stop))
                await asyncio.sleep(0.05)
                t0 = time.perf_counter()
                async with session.post(
                    base + "/v1/chat/completions",
                    data=body,
                    headers={"content-type": "application/json"},
                ) as r:
                    await r.read()
                    status = r.status
                dt = time.perf_counter() - t0
                stop.set()
                health = await poller
                mb = len(body) / 1e6
                rows.append({
                    "kind": kind, "body_bytes": len(body), "chars": len(text), "status": status,
                    "seconds": round(dt, 3), "seconds_per_mb": round(dt / mb, 3),
                    "healthz_max_ms": round(max(health) * 1000, 1),
                    "healthz_p50_ms": round(sorted(health)[len(health) // 2] * 1000, 1),
                })  # fmt: skip
    return rows


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bench_memory(base: str, pid: int, n: int) -> dict[str, Any]:
    rng = random.Random(7)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(chars: int) -> int:
            text = ("这是一段用来测试内存的中文。" * (chars // 14 + 1))[:chars]
            body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})
            async with session.post(
                base + "/v1/chat/completions",
                data=body,
                headers={"content-type": "application/json"},
            ) as r:
                await r.read()
                return r.status

        await one(1000)
        before = _rss_mb(pid)
        statuses = []
        for i in range(n):
            statuses.append(await one(rng.randint(50_000, 190_000)))
            if i == n // 2 - 1:
                middle = _rss_mb(pid)
        after = _rss_mb(pid)
    return {"requests": n, "rss_mb_before": round(before, 1), "rss_mb_half": round(middle, 1),
            "rss_mb_after": round(after, 1), "statuses": sorted(set(statuses))}  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    with procs.mock_upstream() as upstream:
        port = procs.free_port()
        env = {"GATEWAY_CLASSIFIER": args.classifier, "GATEWAY_PSEUDONYM_KEY": secrets.token_hex(32),
               "GATEWAY_AUDIT_URL": "none"}  # fmt: skip
        cmd = [sys.executable, "-m", "gateway", "serve", "--port", str(port),
               "--upstream-url", upstream, "--log-level", "warning"]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=procs.ROOT, env={**os.environ, **env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            procs.wait_http(base + "/healthz", timeout=120)
            requests = asyncio.run(bench_requests(base))
            memory = asyncio.run(bench_memory(base, proc.pid, args.requests))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {"requests": requests, "memory": memory}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classifier", default="auto", help="auto (the shipped model), none, or DIR")
    ap.add_argument("--requests", type=int, default=100, help="long requests for the memory check")
    args = ap.parse_args()
    result: dict[str, Any] = {
        "benchmark": "dos",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "classifier": args.classifier,
        "normalize": bench_normalize(),
    }
    result |= run(args)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
