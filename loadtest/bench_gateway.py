"""Gateway overhead: the same requests sent directly to the mock upstream and through the
gateway (keyword checks on, classifier off), side by side in one run. Prints JSON.

    python -m loadtest.bench_gateway [--requests 3000] [--concurrency 1 32]

Cases: non-streamed chat at each concurrency (p50/p99 latency, requests/s), for the proxy
alone (decision log off) and with the decision log on SQLite (two durable records per
request), and streamed chat time-to-first-token with the upstream emitting a 4-character
chunk every 20 ms, for both hold-back modes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

BODY = orjson.dumps({
    "model": "bench", "max_tokens": 64,
    "messages": [
        {"role": "system", "content": "你是一个乐于助人的助手。"},
        {"role": "user", "content": "请用两三句话介绍一下杭州西湖的历史和主要景点。"},
    ],
    "mock_reply": "西湖位于浙江省杭州市，是中国著名的风景名胜区。主要景点有苏堤春晓、断桥残雪和雷峰夕照。",
})  # fmt: skip


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_load(url: str, concurrency: int, total: int, body: bytes) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
    async with aiohttp.ClientSession(connector=connector) as session:
        counter = iter(range(total))

        async def worker() -> None:
            nonlocal errors
            for _ in counter:
                t0 = time.perf_counter()
                async with session.post(url + "/chat/completions", data=body,
                                        headers=headers) as resp:  # fmt: skip
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        # warm-up: open connections and let both servers settle
        warm = iter(range(min(200, total)))
        async with session.post(url + "/chat/completions", data=body, headers=headers) as r:
            await r.read()
        del warm
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": total,
        "errors": errors,
        "rps": round(total / elapsed, 1),
        "p50_ms": round(pct(latencies, 0.50) * 1000, 3),
        "p99_ms": round(pct(latencies, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3),
    }


async def ttft(url: str, runs: int) -> dict[str, Any]:
    body = orjson.dumps({
        "model": "bench", "stream": True,
        "messages": [{"role": "user", "content": "讲一个关于西湖的小故事"}],
        "mock_reply": "很久以前，西湖边住着一位善良的渔夫，他每天清晨划船出湖，傍晚满载而归。" * 2,
    })  # fmt: skip
    firsts: list[float] = []
    totals: list[float] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(runs):
            t0 = time.perf_counter()
            first = None
            async with session.post(url + "/chat/completions", data=body,
                                    headers={"content-type": "application/json"}) as resp:  # fmt: skip
                async for line in resp.content:
                    if first is None and b'"content":"' in line and b'"content":""' not in line:
                        first = time.perf_counter() - t0
            totals.append(time.perf_counter() - t0)
            firsts.append(first if first is not None else float("nan"))
    return {"runs": runs, "ttft_p50_ms": round(statistics.median(firsts) * 1000, 2),
            "total_p50_ms": round(statistics.median(totals) * 1000, 2)}  # fmt: skip


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "benchmark": "gateway_overhead",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} vCPU, Python {platform.python_version()}",
        "gateway": "1 uvicorn worker, keyword+PII checks on, classifier off",
        "note": "load generator, mock upstream and gateway share the machine's cores",
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as state, procs.mock_upstream() as upstream:
        logs = {
            "log_off": {"GATEWAY_AUDIT_URL": "none"},
            "log_sqlite": {"GATEWAY_AUDIT_URL": f"sqlite:///{state}/audit.db",
                           "GATEWAY_AUDIT_SPOOL_DIR": f"{state}/spool"},
        }  # fmt: skip
        for name, env in logs.items():
            with procs.gateway(upstream, None, **env) as gw:
                for c in args.concurrency:
                    n = args.requests if c > 1 else max(500, args.requests // 4)
                    direct = await run_load(upstream, c, n, BODY)
                    through = await run_load(gw, c, n, BODY)
                    out["cases"][f"chat_c{c}_{name}"] = {
                        "direct": direct,
                        "gateway": through,
                        "added_p50_ms": round(through["p50_ms"] - direct["p50_ms"], 3),
                    }
    with tempfile.TemporaryDirectory() as tmp:
        prefix_policy = _prefix_policy(Path(tmp))
        with procs.mock_upstream(token_delay_ms=20) as upstream:
            off = {"GATEWAY_AUDIT_URL": "none"}
            direct_s = await ttft(upstream, args.stream_runs)
            case: dict[str, Any] = {"upstream": "4-char chunks every 20 ms", "direct": direct_s}
            for mode, policy in (("prefix", None), ("longest_term", prefix_policy)):
                with procs.gateway(upstream, policy, **off) as gw:
                    through = await ttft(gw, args.stream_runs)
                case[f"gateway_holdback_{mode}"] = through
                case[f"added_ttft_ms_{mode}"] = round(
                    through["ttft_p50_ms"] - direct_s["ttft_p50_ms"], 2
                )
            out["cases"]["stream_ttft"] = case
    return out


def _prefix_policy(tmp: Path) -> Path:
    """The shipped policy with ``stream.holdback: longest_term`` (the old default)."""
    shutil.copytree(procs.ROOT / "policies" / "lexicon", tmp / "lexicon")
    text = (procs.ROOT / "policies" / "default.yaml").read_text("utf-8")
    text = text.replace("holdback: prefix", "holdback: longest_term", 1)
    path = tmp / "prefix.yaml"
    path.write_text(text, "utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--stream-runs", type=int, default=20)
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(main_async(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
