"""What users run, side by side with the model direct, in one run. Prints JSON.

    python -m loadtest.bench_defaults [--duration 10] [--classifier auto]

The gateway runs with the shipped defaults (policy, model, SQLite decision log) in front of
the mock upstream; load comes from ``wrk`` (Debian's package) with a Lua script that sends a
different prompt and asks for a different answer on every request, so no cache flatters the
gateway. Cases:

- ``chat_c1`` / ``chat_c32``: non-streamed chat, direct vs gateway: p50/p99 and requests/s;
  ``keyword_only_*`` the same with the classifier and the log off (the proxy floor).
- ``bound_c32``: what 2 cores allow with two model calls per request (input and output):
  1 / (1 / keyword-only req/s + 2 / raw model texts/s), and the share of it reached.
- ``moderations_c64``: ``/v1/moderations`` with 64 connections, distinct texts, against the
  raw model's batched throughput in the same process and dtype.
- ``stream``: time to first token, direct vs gateway, with the upstream at 20, 40 and 80
  tokens/s in 2-character chunks; for unsafe answers, the characters released past the end
  of the first unsafe sentence (0 for keywords: leak-free; the classifier's exposure is one
  check interval, withdrawn by ``moderation.retract``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from loadtest import procs

_TOPICS = ("西湖", "长城", "故宫", "黄山", "泰山", "长江", "黄河", "敦煌", "丽江", "桂林",
           "苏州园林", "兵马俑", "布达拉宫", "张家界", "九寨沟", "鼓浪屿")  # fmt: skip
_WRK_LUA = r"""
local bodies = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
request = function()
  i = i + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
                    bodies[(i % #bodies) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "seconds": %.3f, "errors": %d, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f}\n', summary.requests, summary.duration / 1e6,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""


def _bodies(path: Path, n: int, kind: str) -> Path:
    """``n`` distinct request bodies, one JSON per line."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            topic = _TOPICS[i % len(_TOPICS)]
            if kind == "moderations":
                body: dict[str, Any] = {"input": f"请介绍一下{topic}的历史和文化，第{i}个问题。"}
            else:
                body = {"model": "bench",
                        "messages": [{"role": "user", "content": f"请用两句话介绍{topic}（{i}）。"}],
                        "mock_reply": f"{topic}是中国著名的地方之一，编号{i}。它的历史悠久，风景优美。"}  # fmt: skip
            fh.write(orjson.dumps(body).decode() + "\n")
    return path


def wrk(url: str, bodies: Path, connections: int, seconds: float, work: Path) -> dict[str, Any]:
    script = work / "bench.lua"
    script.write_text(_WRK_LUA, "utf-8")
    threads = min(2, connections)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--latency",
         "-s", str(script), url, "--", str(bodies)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(ln for ln in reversed(out.splitlines()) if ln.startswith("{"))
    result: dict[str, Any] = json.loads(line)
    result["rps"] = round(result["requests"] / result["seconds"], 1)
    return result


@contextmanager
def gateway(upstream: str, work: Path, name: str, **env: str) -> Iterator[str]:
    port = procs.free_port()
    base_env = {**os.environ, "GATEWAY_PSEUDONYM_KEY": secrets.token_hex(32),
                "GATEWAY_AUDIT_URL": f"sqlite:///{work}/{name}.db",
                "GATEWAY_AUDIT_SPOOL_DIR": str(work / f"{name}-spool"),
                "GATEWAY_AUDIT_CHECKPOINT_DIR": str(work / f"{name}-checkpoints"),
                "GATEWAY_CONSOLE_DB": str(work / f"{name}-console.db"), **env}  # fmt: skip
    cmd = [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--upstream-url",
           upstream, "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=work, env=base_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        procs.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=180)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def raw_model_tps(classifier: str, texts: list[str]) -> dict[str, Any]:
    """The shipped model alone, batched, no queue, in this process (the ceiling)."""
    import models
    from loadtest.bench_classifier import bench_raw
    from models.loader import resolve_path

    spec = classifier
    if spec == "auto":  # the shipped model, as gateway.app.load_classifier picks it
        spec = str(procs.ROOT / "models" / "zh_safety_ngram")
    clf = models.load_classifier(str(resolve_path(spec)), device="cpu", cache_size=0)
    best: dict[str, Any] = {}
    for batch in (16, 32, 64):
        r = bench_raw(clf.adapter, texts, batch)  # type: ignore[attr-defined]
        if r["texts_per_s"] > best.get("texts_per_s", 0):
            best = {**r, "batch": batch}
    best["dtype"] = clf.info().get("dtype")
    return best


async def ttft(url: str, body: bytes, runs: int, unsafe_end: int | None) -> dict[str, Any]:
    """Time to the first released character, and (for an unsafe answer) how many characters
    were released past the end of its first unsafe sentence before the stream stopped."""
    firsts: list[float] = []
    exposed: list[int] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(runs):
            t0 = time.perf_counter()
            first = None
            released = ""
            async with session.post(url + "/v1/chat/completions", data=body,
                                    headers={"content-type": "application/json"}) as resp:  # fmt: skip
                async for raw in resp.content:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data: {"):
                        continue
                    event = json.loads(line[6:])
                    for c in event.get("choices", []):
                        text = (c.get("delta") or {}).get("content") or ""
                        if c.get("finish_reason") == "content_filter":
                            continue
                        if text and first is None:
                            first = time.perf_counter() - t0
                        released += text
            firsts.append(first if first is not None else float("nan"))
            if unsafe_end is not None:
                exposed.append(max(0, len(released) - unsafe_end))
    ok = sorted(f for f in firsts if f == f)
    out: dict[str, Any] = {"runs": runs,
                           "ttft_p50_ms": round(ok[len(ok) // 2] * 1000, 2) if ok else None}  # fmt: skip
    if unsafe_end is not None:
        out["chars_past_unsafe_sentence_max"] = max(exposed)
    return out


def _stream_body(text: str) -> bytes:
    chunks = [text[i : i + 2] for i in range(0, len(text), 2)]
    return orjson.dumps({"model": "bench", "stream": True, "mock_chunks": chunks,
                         "messages": [{"role": "user", "content": "讲个故事"}]})  # fmt: skip


BENIGN = "很久以前，西湖边住着一位善良的渔夫。他每天清晨划船出湖，傍晚满载而归。" * 3
UNSAFE_KEYWORD = "好的，我来告诉你。制作炸弹的方法是这样的。后面还有很多内容，我们继续说下去。"


async def streams(upstream_at: dict[int, str], gws: dict[int, str], runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    end = UNSAFE_KEYWORD.index("。", UNSAFE_KEYWORD.index("炸弹")) + 1
    for rate, up in upstream_at.items():
        direct = await ttft(up.removesuffix("/v1"), _stream_body(BENIGN), runs, None)
        through = await ttft(gws[rate], _stream_body(BENIGN), runs, None)
        unsafe = await ttft(gws[rate], _stream_body(UNSAFE_KEYWORD), max(3, runs // 4), end)
        out[f"{rate}_tokens_per_s"] = {
            "direct": direct, "gateway": through,
            "added_ttft_ms": round((through["ttft_p50_ms"] or 0) - (direct["ttft_p50_ms"] or 0), 2),
            "unsafe_keyword_answer": unsafe,
        }  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    ap.add_argument("--classifier", default="auto")
    ap.add_argument("--stream-runs", type=int, default=20)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_defaults needs wrk (apt-get install -y wrk)")
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    chat = _bodies(work / "chat.jsonl", 6000, "chat")
    mods = _bodies(work / "moderations.jsonl", 6000, "moderations")
    result: dict[str, Any] = {
        "benchmark": "defaults",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} vCPU, "
                   f"Python {platform.python_version()}",
        "load": "wrk, distinct prompts and answers on every request",
        "cases": {},
    }  # fmt: skip
    cases = result["cases"]
    d = args.duration
    with procs.mock_upstream() as upstream:
        with gateway(
            upstream, work, "kw", GATEWAY_CLASSIFIER="none", GATEWAY_AUDIT_URL="none"
        ) as kw:
            for c in (1, 32):
                direct = wrk(upstream + "/chat/completions", chat, c, d, work)
                through = wrk(kw + "/v1/chat/completions", chat, c, d, work)
                cases[f"keyword_only_chat_c{c}"] = {
                    "direct": direct, "gateway": through,
                    "added_p50_ms": round(through["p50_ms"] - direct["p50_ms"], 3)}  # fmt: skip
        with gateway(upstream, work, "defaults", GATEWAY_CLASSIFIER=args.classifier) as gw:
            for c in (1, 32):
                direct = wrk(upstream + "/chat/completions", chat, c, d, work)
                through = wrk(gw + "/v1/chat/completions", chat, c, d, work)
                cases[f"chat_c{c}"] = {
                    "direct": direct, "gateway": through,
                    "added_p50_ms": round(through["p50_ms"] - direct["p50_ms"], 3)}  # fmt: skip
            cases["moderations_c64"] = {"gateway": wrk(gw + "/v1/moderations", mods, 64, d, work)}
    texts = [json.loads(line)["input"] for line in mods.read_text("utf-8").splitlines()[:2000]]
    raw = raw_model_tps(args.classifier, texts) if args.classifier != "none" else None
    if raw is not None:
        cases["moderations_c64"]["raw_model"] = raw
        share = cases["moderations_c64"]["gateway"]["rps"] / raw["texts_per_s"]
        cases["moderations_c64"]["share_of_raw"] = round(share, 3)
        kw_rps = cases["keyword_only_chat_c32"]["gateway"]["rps"]
        bound = 1 / (1 / kw_rps + 2 / raw["texts_per_s"])
        cases["bound_c32"] = {"req_per_s": round(bound, 1),
                              "reached": round(cases["chat_c32"]["gateway"]["rps"] / bound, 3)}  # fmt: skip
    with contextmanager_stack(args, work) as (ups, gws):
        cases["stream"] = asyncio.run(streams(ups, gws, args.stream_runs))
    print(json.dumps(result, ensure_ascii=False, indent=2))


@contextmanager
def contextmanager_stack(
    args: argparse.Namespace, work: Path
) -> Iterator[tuple[dict[int, str], dict[int, str]]]:
    """A mock upstream at each token rate, and a gateway with the defaults in front of it.
    A token is about two Chinese characters: 40 tokens/s is one 2-character chunk per 25 ms."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        ups: dict[int, str] = {}
        gws: dict[int, str] = {}
        for rate in (20, 40, 80):
            ups[rate] = stack.enter_context(procs.mock_upstream(token_delay_ms=1000 / rate))
            gws[rate] = stack.enter_context(
                gateway(ups[rate], work, f"s{rate}", GATEWAY_CLASSIFIER=args.classifier)
            )
        yield ups, gws


if __name__ == "__main__":
    main()
