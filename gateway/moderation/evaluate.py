"""``gateway eval``: run the full moderation pipeline over a labeled JSONL file.

Each line: ``{"text": ..., "label": 0|1, "categories": [codes] (optional),
"direction": "input"|"output" (optional, default input)}``. The pipeline runs in process,
with checks issued concurrently so a configured classifier batches them. A text counts as
predicted unsafe when the decision's action is one of ``positive_actions`` (default: block
and review, the actions that stop or hold content).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from gateway import taxonomy
from gateway.decision import Action, Decision, Direction
from gateway.moderation.language import detect_language
from gateway.moderation.pipeline import CheckContext, Pipeline

Mode = Literal["full", "keywords", "classifier"]
DEFAULT_POSITIVE = (Action.BLOCK, Action.REVIEW)


class EvalDataError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int
    categories: tuple[str, ...] = ()
    direction: Direction = Direction.INPUT


def read_examples(path: Path) -> list[Example]:
    """Parse the JSONL file; every problem names its line."""
    out: list[Example] = []
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                row = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                raise EvalDataError(f"{path}:{n}: not valid JSON ({e})") from None
            out.append(_example(row, f"{path}:{n}"))
    if not out:
        raise EvalDataError(f"{path}: no examples")
    return out


def _example(row: Any, where: str) -> Example:
    if not isinstance(row, dict):
        raise EvalDataError(f"{where}: each line must be a JSON object")
    text, label = row.get("text"), row.get("label")
    if not isinstance(text, str):
        raise EvalDataError(f"{where}: 'text' must be a string")
    if label not in (0, 1) or isinstance(label, bool):
        raise EvalDataError(f"{where}: 'label' must be 0 or 1")
    cats = row.get("categories") or []
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        raise EvalDataError(f"{where}: 'categories' must be a list of taxonomy codes")
    unknown = [c for c in cats if not taxonomy.is_code(c)]
    if unknown:
        raise EvalDataError(f"{where}: unknown taxonomy code(s) {unknown}")
    direction = row.get("direction", "input")
    if direction not in ("input", "output"):
        raise EvalDataError(f"{where}: 'direction' must be 'input' or 'output'")
    return Example(text, int(label), tuple(cats), Direction(direction))


async def predict(
    pipeline: Pipeline, examples: list[Example], mode: Mode, concurrency: int = 64
) -> list[Decision]:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, ex: Example) -> Decision:
        async with gate:
            ctx = CheckContext(f"eval-{i}", detect_language([ex.text]))
            return await pipeline.check(
                [ex.text], ex.direction, ctx,
                use_classifier=mode != "keywords", use_lexicon=mode != "classifier",
            )  # fmt: skip

    return list(await asyncio.gather(*(one(i, ex) for i, ex in enumerate(examples))))


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def score(
    examples: list[Example], decisions: list[Decision],
    positive: Iterable[Action] = DEFAULT_POSITIVE,
) -> dict[str, Any]:  # fmt: skip
    pos = set(positive)
    tp = fp = tn = fn = 0
    per_cat: dict[str, dict[str, int]] = {}
    for ex, d in zip(examples, decisions, strict=True):
        pred = d.action in pos
        if ex.label == 1:
            tp, fn = tp + pred, fn + (not pred)
        else:
            fp, tn = fp + pred, tn + (not pred)
        for code in ex.categories:
            c = per_cat.setdefault(code, {"support": 0, "detected": 0, "category_matched": 0})
            c["support"] += 1
            c["detected"] += pred
            c["category_matched"] += pred and code in d.categories
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = round(2 * precision * recall / (precision + recall), 4) if precision and recall else 0.0
    return {
        "n": len(examples),
        "positives": tp + fn,
        "negatives": tn + fp,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": _ratio(tp + tn, len(examples)),
        "false_positive_rate": _ratio(fp, fp + tn),
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
        "per_category": {
            code: {
                **c,
                "recall": _ratio(c["detected"], c["support"]),
                "category_recall": _ratio(c["category_matched"], c["support"]),
            }
            for code, c in sorted(per_cat.items())
        },
    }


async def evaluate_file(
    pipeline: Pipeline, path: Path, mode: Mode, positive: Iterable[Action] = DEFAULT_POSITIVE
) -> dict[str, Any]:
    examples = read_examples(path)
    started = time.perf_counter()
    decisions = await predict(pipeline, examples, mode)
    elapsed = time.perf_counter() - started
    result = score(examples, decisions, positive)
    classifier = pipeline.classifier.info() if pipeline.classifier is not None else "none"
    return {
        "data": str(path),
        "mode": mode,
        "policy_version": pipeline.policies.version,
        "classifier": classifier,
        "positive_actions": sorted(a.value for a in positive),
        **result,
        "seconds": round(elapsed, 3),
        "texts_per_second": round(len(examples) / elapsed, 1) if elapsed else None,
    }
