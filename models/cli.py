"""``gateway classify``: score texts with any classifier spec, for checking a model by hand.

Wired by the CLI owner with ``models.cli.register(subparsers)``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from itertools import islice
from typing import Any

import orjson

from gateway.classifier import Scores

MAX_STDIN_LINES = 10_000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "classify",
        help="score texts with a classifier (model directory, http(s) URL or hub id)",
        description="Prints one JSON line per text: {text, scores by taxonomy code}.",
    )
    p.add_argument("spec", help="model directory, http(s)://gateway URL, or hub id")
    p.add_argument(
        "texts", nargs="*", help=f"texts (default: stdin, one per line, {MAX_STDIN_LINES} max)"
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "hpu"])
    p.add_argument(
        "--threshold", type=float, default=0.0, help="only print scores at or above this"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    texts: list[str] = args.texts or [
        line.rstrip("\n") for line in islice(sys.stdin, MAX_STDIN_LINES) if line.strip()
    ]
    for text, scores in zip(
        texts, asyncio.run(_classify(args.spec, args.device, texts)), strict=True
    ):
        shown = {k: round(v, 4) for k, v in scores.items() if v >= args.threshold}
        sys.stdout.write(orjson.dumps({"text": text, "scores": shown}).decode() + "\n")
    return 0


async def _classify(spec: str, device: str, texts: list[str]) -> list[Scores]:
    from models import load_classifier

    remote = spec.startswith(("http://", "https://"))
    options: dict[str, Any] = {} if remote else {"cache_size": 0}
    classifier = load_classifier(spec, device=device, **options)
    try:
        return await classifier.classify(texts)
    finally:
        await classifier.aclose()
