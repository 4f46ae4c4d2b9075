"""Held-out figures for the whole gateway pipeline: keywords only, model only, and both.

The model card's other numbers score the bare model against its own thresholds; these run
what a deployment runs: normalization, the lexicon, the model with its direction markers,
and the policy's per-category thresholds and actions (``gateway.moderation.evaluate``, the code behind
``gateway eval``). A text counts as flagged when the decision blocks it or holds it for
review.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gateway.decision import Direction
from gateway.metrics import Metrics
from gateway.moderation.evaluate import Example as EvalExample
from gateway.moderation.evaluate import Mode, predict, score
from gateway.moderation.pipeline import Pipeline
from gateway.policy.compiled import load_policy_set
from models.training.example import Example
from models.training.perturb import Perturber
from models.training.report import SOCIAL_MEDIA, perturbed, robustness_rows

MODES: tuple[Mode, ...] = ("keywords", "classifier", "full")
_KEEP = ("n", "accuracy", "precision", "recall", "f1", "false_positive_rate")


def held_out_sets(rows: list[Example]) -> dict[str, list[EvalExample]]:
    """The test split, and its benign prompts (social-media comments aside; the held-out
    hand-written bank is part of the test split) as ``gateway eval`` examples."""

    def ex(r: Example) -> EvalExample:
        direction = Direction.OUTPUT if r.direction == "out" else Direction.INPUT
        return EvalExample(r.text, int(bool(r.codes)), tuple(sorted(r.codes)), direction)

    test = [r for r in rows if r.split == "test"]
    benign_prompts = [
        r for r in test if not r.codes and r.source not in SOCIAL_MEDIA and r.direction == "in"
    ]
    return {
        "test": [ex(r) for r in test],
        "benign_prompts": [ex(r) for r in benign_prompts],
    }


def robustness_sets(
    rows: list[Example], perturber: Perturber, seed: int, cap: int
) -> dict[str, list[EvalExample]]:
    """The model card's robustness rows (held-out zh positives and benign prompts) per
    evasion variant, as ``robustness/<variant>`` sets."""
    pos, neg = robustness_rows(rows, seed, cap)
    out = {}
    for name, (p_text, n_text) in perturbed(pos, neg, perturber, seed).items():
        out[f"robustness/{name}"] = [
            EvalExample(t, label, (), Direction.OUTPUT if r.direction == "out" else Direction.INPUT)
            for texts, group, label in ((p_text, pos, 1), (n_text, neg, 0))
            for t, r in zip(texts, group, strict=True)
        ]
    return out


def pipeline_metrics(
    model_dir: Path, policy: Path, rows: list[Example], perturber: Perturber, seed: int, cap: int
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{set: {mode: metrics}}`` for the model in ``model_dir`` under ``policy``: the test
    split, then the robustness variants (where normalization earns its keep)."""
    sets = {**held_out_sets(rows), **robustness_sets(rows, perturber, seed, cap)}
    return asyncio.run(_run(model_dir, policy, sets))


async def _run(
    model_dir: Path, policy: Path, sets: dict[str, list[EvalExample]]
) -> dict[str, dict[str, dict[str, Any]]]:
    import models

    policies = load_policy_set(policy)
    metrics = Metrics()
    classifier = models.load_classifier(str(model_dir), device="cpu", cache_size=0)
    pipeline = Pipeline(lambda: policies, metrics, classifier)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        for name, examples in sets.items():
            out[name] = {}
            for mode in MODES:
                result = score(examples, await predict(pipeline, examples, mode))
                out[name][mode] = {k: result[k] for k in _KEEP}
    finally:
        await classifier.aclose()
    return out
