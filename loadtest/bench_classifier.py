"""The batched inference core against naive per-request inference and the raw model, on the
same model and the same texts, in one run. Prints JSON.

    python -m loadtest.bench_classifier [--model DIR] [--device auto|cpu|cuda|hpu]

Cases:
  naive       one text per model call, tokenizer + forward, as a simple integration does it,
              one caller at a time (the naive path at its best);
  naive_cN    the same behind ``asyncio.to_thread`` with N concurrent callers;
  core_cN     ``await classifier.classify([text])`` from N concurrent callers (1, 16, 64)
              through the dynamic batcher (verdict cache off: every text reaches the model);
  raw_bB      the adapter's forward on pre-tokenised rows in batches of B, no queue, no event
              loop; ``raw_best`` is the best of them and sets the core's ``max_batch``.
Without ``--model`` a random-weight character BERT (4 layers, hidden 256, 512 positions) is
built in a temporary directory, so the benchmark runs anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from models.training.paths import shared_datasets

DEFAULT_TEXTS = shared_datasets() / "COLD" / "COLDataset" / "dev.csv"
LABELS = ("safe", "A1.04", "A1.05", "A1.06", "A2.01", "A2.05", "A4.05", "X2")


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(n: int, seconds: float, latencies: Sequence[float], **extra: Any) -> dict[str, Any]:
    return {
        "texts": n,
        "texts_per_s": round(n / seconds, 1),
        "p50_ms": round(pct(latencies, 0.50) * 1e3, 2),
        "p99_ms": round(pct(latencies, 0.99) * 1e3, 2),
        **extra,
    }


def load_texts(path: Path, n: int, seed: int) -> list[str]:
    """Texts from the COLD CSV (column TEXT) when present, else synthetic Chinese; shuffled."""
    rng = random.Random(seed)
    texts: list[str] = []
    if path.is_file():
        with path.open(encoding="utf-8-sig", newline="") as fh:
            texts = [row["TEXT"] for row in csv.DictReader(fh) if row.get("TEXT")]
    if not texts:
        from models.tiny import _CJK

        texts = ["".join(rng.choices(_CJK + "，。", k=rng.randint(10, 120))) for _ in range(n)]
    rng.shuffle(texts)
    # Distinct texts only: the batcher computes duplicates once, which would flatter it.
    return list(dict.fromkeys(texts))[:n]


def build_default_model(directory: Path) -> Path:
    from models.tiny import build_encoder

    return build_encoder(directory, LABELS, layers=4, hidden=256, heads=4, max_length=512)


def naive_model(model_dir: Path, device: str, adapter: Any) -> Callable[[str], list[float]]:
    """Tokenizer + forward per text, no padding tricks: what most integrations ship. For a
    model kind that is not a transformers encoder (the n-gram model), the adapter's own
    featurizer and forward, one text per call."""
    if adapter.info().get("kind") != "encoder":

        def featurize_and_run(text: str) -> list[float]:
            # A text longer than the model's window is several rows: the maximum per code,
            # as the batcher takes it.
            windows = adapter.run(adapter.encode(text))
            return [max(w[c] for w in windows) for c in windows[0]]

        return featurize_and_run
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok: Any = AutoTokenizer.from_pretrained(model_dir)  # type: ignore[no-untyped-call]
    try:
        model: Any = AutoModelForSequenceClassification.from_pretrained(
            model_dir, attn_implementation="sdpa"
        )
    except ValueError:  # architectures without SDPA (ELECTRA) run eager, as the core does
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    model = model.eval().to(device)
    limit = min(512, int(model.config.max_position_embeddings))

    def one(text: str) -> list[float]:
        enc = tok(text, truncation=True, max_length=limit, return_tensors="pt").to(device)
        with torch.inference_mode():
            out: list[float] = torch.sigmoid(model(**enc).logits)[0].float().cpu().tolist()
        return out

    return one


def bench_naive(one: Callable[[str], list[float]], texts: Sequence[str]) -> dict[str, Any]:
    for t in texts[:8]:
        one(t)
    latencies = []
    start = time.perf_counter()
    for t in texts:
        t0 = time.perf_counter()
        one(t)
        latencies.append(time.perf_counter() - t0)
    return summary(len(texts), time.perf_counter() - start, latencies)


def bench_raw(adapter: Any, texts: Sequence[str], batch: int) -> dict[str, Any]:
    rows = [r for t in texts for r in adapter.encode(t)]
    groups = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    for g in groups[:2]:
        adapter.run(g)
    latencies = []
    start = time.perf_counter()
    for g in groups:
        t0 = time.perf_counter()
        adapter.run(g)
        latencies.append(time.perf_counter() - t0)
    return summary(len(texts), time.perf_counter() - start, latencies, batch=batch, rows=len(rows))


async def bench_naive_concurrent(
    one: Callable[[str], list[float]], texts: Sequence[str], callers: int
) -> dict[str, Any]:
    """The naive model behind ``asyncio.to_thread`` with concurrent callers: what a simple
    async integration does under load (several forwards at once, no batching)."""
    latencies: list[float] = []
    queue = list(reversed(texts))

    async def caller() -> None:
        while queue:
            text = queue.pop()
            t0 = time.perf_counter()
            await asyncio.to_thread(one, text)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return summary(len(texts), time.perf_counter() - start, latencies, callers=callers)


async def bench_core(classifier: Any, texts: Sequence[str], callers: int) -> dict[str, Any]:
    latencies: list[float] = []
    queue = list(reversed(texts))

    async def caller() -> None:
        while queue:
            text = queue.pop()
            t0 = time.perf_counter()
            await classifier.classify([text])
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(classifier.classify([t]) for t in texts[: 2 * callers]))  # warm
    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return summary(len(texts), time.perf_counter() - start, latencies, callers=callers)


def machine(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def median_case(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median throughput, plus every round's throughput (noisy hosts)."""
    ordered = sorted(rounds, key=lambda r: r["texts_per_s"])
    return {**ordered[len(ordered) // 2], "rounds_texts_per_s": [r["texts_per_s"] for r in rounds]}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    import models
    from models.batcher import BatchLimits
    from models.local import LocalClassifier

    tmp = None
    model_dir = args.model
    if model_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-classifier-")
        model_dir = build_default_model(Path(tmp.name))
    texts = load_texts(args.texts, args.n, args.seed)
    options: dict[str, Any] = {"cache_size": 0}
    if args.batch_sizes:
        options["batch_sizes"] = tuple(int(b) for b in args.batch_sizes.split(","))
    if args.compile:
        options["compile"] = True
    if args.threads:
        options["torch_threads"] = args.threads
    if args.workers:
        options["workers"] = args.workers
    if args.dtype:
        options["dtype"] = args.dtype
    probe: Any = models.load_classifier(str(model_dir), device=args.device, **options)
    adapter = probe.adapter
    workers = probe.batcher.limits.workers  # the loader's choice for this device and CPU
    await probe.aclose()
    device = adapter.device
    result: dict[str, Any] = {
        "machine": {**machine(device), "core_workers": workers},
        "model": adapter.info(),
        "cases": {},
    }
    cases = result["cases"]
    # Pick the raw model's best batch size on a subset, then compare all cases on all texts.
    for _ in range(2):  # the first pass meets every shape cold; keep the warm second one
        scan = {b: bench_raw(adapter, texts[: args.scan_n], b) for b in adapter.shapes.batch_sizes}
    best_batch = max(scan.values(), key=lambda r: r["texts_per_s"])["batch"]
    cases["raw_scan_texts_per_s"] = {str(b): r["texts_per_s"] for b, r in scan.items()}
    # n-gram rows are long id lists with no padding cost: that adapter names its own budget.
    max_tokens = args.max_batch_tokens or int(getattr(adapter, "max_batch_tokens", 32768))
    limits = BatchLimits(
        max_batch=best_batch, max_tokens=max_tokens, max_wait_us=args.max_wait_us,
        max_queue=4096, workers=workers,
    )  # fmt: skip
    core = LocalClassifier(adapter, limits=limits)
    naive_texts = texts[: args.naive_n]
    naive = naive_model(Path(model_dir), device, adapter)
    runs: dict[str, list[dict[str, Any]]] = {}
    # Rounds interleave the cases so that load from other processes hits them alike. Round 0
    # is a discarded warm-up: oneDNN builds kernels per input shape on first sight, which
    # would otherwise charge the naive case (a new shape per text length) for its first pass.
    for round_no in range(args.rounds + 1):
        if round_no == 1:
            runs.clear()
        runs.setdefault("naive", []).append(bench_naive(naive, naive_texts))
        top_callers = max(args.callers)
        runs.setdefault(f"naive_c{top_callers}", []).append(
            await bench_naive_concurrent(naive, naive_texts, top_callers)
        )
        runs.setdefault("raw_best", []).append(bench_raw(adapter, texts, best_batch))
        for callers in args.callers:
            chosen = naive_texts if callers == 1 else texts
            runs.setdefault(f"core_c{callers}", []).append(await bench_core(core, chosen, callers))
    await core.aclose()
    for name, rounds in runs.items():
        cases[name] = median_case(rounds)
    top = cases[f"core_c{max(args.callers)}"]
    result["targets"] = {
        "core_vs_naive": round(top["texts_per_s"] / cases["naive"]["texts_per_s"], 2),
        "core_vs_naive_same_callers": round(
            top["texts_per_s"] / cases[f"naive_c{max(args.callers)}"]["texts_per_s"], 2
        ),
        "core_vs_raw_best": round(top["texts_per_s"] / cases["raw_best"]["texts_per_s"], 3),
        "core_p99_over_p50": round(top["p99_ms"] / top["p50_ms"], 2),
        "shapes_seen": len(adapter.shapes_seen),
        "shape_bound": len(adapter.shapes.length_buckets) * len(adapter.shapes.batch_sizes),
    }
    if tmp is not None:
        tmp.cleanup()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--model", type=Path, default=None, help="model directory (default: a random char BERT)"
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "hpu"])
    p.add_argument("--texts", type=Path, default=DEFAULT_TEXTS, help="CSV with a TEXT column")
    p.add_argument("--n", type=int, default=768, help="texts per raw / batched case")
    p.add_argument(
        "--naive-n", type=int, default=192, help="texts for the naive and 1-caller cases"
    )
    p.add_argument("--scan-n", type=int, default=256, help="texts per batch size when scanning")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported")
    p.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (0: the loader's choice)"
    )
    p.add_argument(
        "--workers", type=int, default=0, help="model threads of the core (0: the loader's choice)"
    )
    p.add_argument("--callers", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--batch-sizes", default="", help="e.g. 1,2,4,8,16,32 (default: per device)")
    p.add_argument(
        "--max-batch-tokens",
        type=int,
        default=0,
        help="token budget of a batch (0: the adapter's own, else 32768)",
    )
    p.add_argument("--max-wait-us", type=int, default=2000)
    p.add_argument("--compile", action="store_true", help="torch.compile (CUDA graphs on cuda)")
    p.add_argument(
        "--dtype", default="", help="float32, bfloat16, ... (default: the loader's auto)"
    )
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
