"""What a classifier on a serving engine costs the gateway, and what coalescing concurrent
texts into one call buys: ``ServedClassifier`` against a scripted engine
(``loadtest.mock_engines``) in its own process. Prints JSON.

    python -m loadtest.bench_served [--callers 1 64] [--n 4000] [--rounds 3]

Every case is ``await classifier.classify([text])`` from N concurrent callers (``_cN``;
one caller gets ``n / 8`` texts), each text distinct, verdict cache off, so every text goes
over the wire:

  tei_batched      TEI /predict, concurrent texts coalesced (max_batch 32, 8 calls in flight)
  tei_one_per_call TEI /predict, one text per call, up to 64 calls in flight (what a client
                   without batching does)
  guard            an OpenAI-compatible chat guard: one text per call by protocol

against two engines: ``instant`` answers at once (the cost is the gateway's client, HTTP
and JSON on both ends: the overhead), ``serial`` spends 2 ms per call plus 0.02 ms per text,
one call at a time (an engine that does not batch by itself, e.g. KServe without dynamic
batching). Rounds are interleaved; each case reports its median round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtest.bench_classifier import DEFAULT_TEXTS, load_texts, summary
from loadtest.procs import free_port, process

LABEL_MAP = {"neutral": None, "terrorism": "A1.04", "porn": "A1.06"}
CASES = {
    "tei_batched": ("tei", "max_batch=32&max_inflight=8"),
    "tei_one_per_call": ("tei", "max_batch=1&max_inflight=64"),
    "guard": ("openai", ""),
}
ENGINES = {"instant": [], "serial": ["--serial", "--delay-ms", "2", "--per-text-ms", "0.02"]}


def _stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_mock/stats", timeout=5) as r:
        stats: dict[str, int] = json.loads(r.read())
        return stats


async def _round(spec: str, texts: Sequence[str], callers: int, url: str) -> dict[str, Any]:
    import models

    clf = models.load_classifier(spec, total_timeout_s=60, max_connections=64, cache_size=0)
    await clf.classify(["预热"])  # discovery and the first connection, outside the timing
    before = _stats(url)
    pending = iter(texts)
    latencies: list[float] = []

    async def caller() -> None:
        for text in pending:
            t0 = time.perf_counter()
            await clf.classify([text])
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    seconds = time.perf_counter() - started
    await clf.aclose()
    after = _stats(url)
    calls = after["calls"] - before["calls"]
    return summary(len(texts), seconds, latencies, calls=calls,
                   texts_per_call=round((after["texts"] - before["texts"]) / max(calls, 1), 2))  # fmt: skip


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    texts = load_texts(args.texts, args.n, args.seed)
    label_map = Path(tempfile.mkdtemp()) / "labels.json"
    label_map.write_text(json.dumps(LABEL_MAP), "utf-8")
    result: dict[str, Any] = {
        "machine": {"date_utc": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
                    "platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": sys.version.split()[0]},
        "setup": {"callers": args.callers, "texts": len(texts), "rounds": args.rounds,
                  "mean_chars": round(statistics.mean(len(t) for t in texts), 1)},
        "cases": {},
    }  # fmt: skip
    for engine, flags in ENGINES.items():
        servers: dict[str, str] = {}
        with _engines(flags, servers):
            rounds: dict[str, list[dict[str, Any]]] = {}
            for _ in range(args.rounds):
                for callers in args.callers:
                    # One caller shows the latency a lone text pays; fewer texts do for that.
                    batch = texts if callers > 1 else texts[: args.n // 8]
                    for name, (protocol, options) in CASES.items():
                        url = servers[protocol]
                        spec = (f"tei+{url}?label_map={label_map}&{options}" if protocol == "tei"
                                else f"vllm+{url}/v1?format=qwen3guard")  # fmt: skip
                        run = await _round(spec, batch, callers, url)
                        rounds.setdefault(f"{name}_c{callers}", []).append(run)
            for name, runs in rounds.items():
                runs.sort(key=lambda r: r["texts_per_s"])
                median = dict(runs[len(runs) // 2])
                median["rounds_texts_per_s"] = [r["texts_per_s"] for r in runs]
                result["cases"][f"{engine}/{name}"] = median
    return result


class _engines:
    """Both scripted engines (TEI and a chat guard) as processes for one engine kind."""

    def __init__(self, flags: list[str], urls: dict[str, str]) -> None:
        self._flags = flags
        self._urls = urls
        self._stack: list[Any] = []

    def __enter__(self) -> None:
        for protocol in ("tei", "openai"):
            port = free_port()
            args = [sys.executable, "-m", "loadtest.mock_engines", "--protocol", protocol,
                    "--port", str(port), "--model", "qwen3guard", *self._flags]  # fmt: skip
            ctx = process(args, f"http://127.0.0.1:{port}/_mock/stats")
            ctx.__enter__()
            self._stack.append(ctx)
            self._urls[protocol] = f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        for ctx in reversed(self._stack):
            ctx.__exit__(None, None, None)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--texts", type=Path, default=DEFAULT_TEXTS, help="CSV with a TEXT column")
    p.add_argument("--n", type=int, default=4000, help="texts per round and case")
    p.add_argument("--callers", type=int, nargs="+", default=[1, 64])
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    result = asyncio.run(main_async(args))
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
