"""The evaluation suite the model card quotes: calibrated thresholds, held-out metrics,
COLD dev, benign false-positive rate, out-of-domain XSafety, robustness, CPU speed."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from models.training import benign, sources
from models.training.evaluate import Array, binary, calibrate, flagged, per_code, predict
from models.training.example import Example, with_direction
from models.training.perturb import Perturber

# Benign prompt sources: the over-refusal check of TC260-003 is on prompts.
_BENIGN_PROMPTS = {"CValues", "benign-template", "benign-written"}
# XSafety scenarios whose prompts are mostly harmful (the others are largely benign).
_XSAFETY_HARMFUL = (
    "Crimes_And_Illegal_Activities",
    "Insult",
    "Privacy_And_Property",
    "Physical_Harm",
    "Unfairness_And_Discrimination",
    "Goal_Hijacking",
    "Role_Play_Instruction",
)


def _score(model: PreTrainedModel, tok: PreTrainedTokenizerBase, rows: Sequence[Example]) -> Array:
    return predict(model, tok, [with_direction(r.text, r.direction) for r in rows])


def _truth(rows: Sequence[Example], labels: Sequence[str]) -> Array:
    return np.array([[c in r.codes for c in labels] for r in rows], dtype=bool).reshape(
        len(rows), len(labels)
    )


def _any(scores: Array, th: Array) -> Array:
    return np.asarray(flagged(scores, th).any(axis=1))


def _rate(x: Array) -> float:
    return round(float(np.mean(x)), 4) if len(x) else 0.0


def calibrate_thresholds(
    model: PreTrainedModel,
    tok: PreTrainedTokenizerBase,
    rows: list[Example],
    labels: list[str],
    fpr_budget: float,
) -> tuple[Array, dict[str, float]]:
    """Thresholds from the validation split (see ``evaluate.calibrate``)."""
    val = [r for r in rows if r.split == "val"]
    scores = _score(model, tok, val)
    sets = {
        src: np.array([r.source == src and not r.codes for r in val])
        for src in sorted(_BENIGN_PROMPTS)
    }
    th, fpr = calibrate(scores, _truth(val, labels), [scores[m] for m in sets.values()], fpr_budget)
    sizes = {f"val_{src}_n": int(m.sum()) for src, m in sets.items()}
    return th, {**sizes, "val_pooled_benign_fpr": round(fpr, 4)}


def held_out(
    model: PreTrainedModel,
    tok: PreTrainedTokenizerBase,
    rows: list[Example],
    labels: list[str],
    th: Array,
) -> dict[str, object]:
    """Metrics on the test split, COLD dev and the benign sets."""
    test = [r for r in rows if r.split == "test"]
    s = _score(model, tok, test)
    truth = _truth(test, labels)
    pos = np.asarray(truth.any(axis=1))
    by_source = {}
    for src in sorted({r.source for r in test}):
        m = np.array([r.source == src for r in test])
        by_source[src] = binary(_any(s[m], th), pos[m])
    cold = [r for r in rows if r.split == "cold_dev"]
    cs = _score(model, tok, cold)
    ctruth = np.array([bool(r.codes) for r in cold])
    cvals = np.array([r.source == "CValues" for r in test])
    tmpl = np.array([r.source == "benign-template" for r in test])
    heldout = benign.heldout_bank()
    hs = _score(model, tok, heldout)
    return {
        "test_any_unsafe": binary(_any(s, th), pos),
        "test_any_unsafe_at_0.5": binary(_any(s, np.full(len(labels), 0.5)), pos),
        "test_by_source": by_source,
        "test_per_code": per_code(s, truth, th, labels),
        "cold_dev": binary(_any(cs, th), ctruth),
        "cold_dev_at_0.5": binary(_any(cs, np.full(len(labels), 0.5)), ctruth),
        "benign_fpr": {
            "cvalues_test": {"n": int(cvals.sum()), "fpr": _rate(_any(s[cvals], th))},
            "benign_template_test": {"n": int(tmpl.sum()), "fpr": _rate(_any(s[tmpl], th))},
            "benign_heldout_handwritten": {"n": len(heldout), "fpr": _rate(_any(hs, th))},
            "benign_written_test": _fpr_of(s, th, test, "benign-written"),
            "jade_v3_safe_answers_test": _fpr_of(s, th, test, "JADE-v3-safe"),
        },
    }


def _fpr_of(s: Array, th: Array, rows: list[Example], source: str) -> dict[str, float]:
    m = np.array([r.source == source for r in rows])
    return {"n": int(m.sum()), "fpr": _rate(_any(s[m], th))}


def xsafety(
    model: PreTrainedModel, tok: PreTrainedTokenizerBase, data_dir: Path, th: Array
) -> dict[str, float]:
    """Share of XSafety zh prompts flagged, per scenario (not used in training)."""
    out = {}
    for name, texts in sources.xsafety_zh(data_dir).items():
        out[name] = _rate(_any(predict(model, tok, [with_direction(t, "in") for t in texts]), th))
    return out


def robustness(
    model: PreTrainedModel,
    tok: PreTrainedTokenizerBase,
    rows: list[Example],
    th: Array,
    perturber: Perturber,
    seed: int,
    cap: int = 600,
) -> dict[str, dict[str, float]]:
    """Recall on held-out zh positives and FPR on held-out benign prompts, per variant."""
    pos, neg = robustness_rows(rows, seed, cap)
    out = {}
    for name, (p_text, n_text) in perturbed(pos, neg, perturber, seed).items():
        p = predict(
            model, tok, [with_direction(t, r.direction) for t, r in zip(p_text, pos, strict=True)]
        )
        n = predict(
            model, tok, [with_direction(t, r.direction) for t, r in zip(n_text, neg, strict=True)]
        )
        out[name] = {
            "recall": _rate(_any(p, th)),
            "benign_fpr": _rate(_any(n, th)),
            "n_pos": len(pos),
            "n_neg": len(neg),
        }
    return out


def robustness_rows(
    rows: list[Example], seed: int, cap: int
) -> tuple[list[Example], list[Example]]:
    """The held-out zh positives (a seeded sample of at most ``cap``) and benign prompts the
    robustness figures are measured on."""
    rng = random.Random(seed)
    zh = [r for r in rows if r.split == "test" and any("\u4e00" <= c <= "\u9fff" for c in r.text)]
    pos = [r for r in zh if r.codes]
    neg = [r for r in zh if not r.codes and r.source in _BENIGN_PROMPTS] + benign.heldout_bank()[
        :40
    ]
    return rng.sample(pos, min(cap, len(pos))), neg


def perturbed(
    pos: list[Example], neg: list[Example], perturber: Perturber, seed: int
) -> dict[str, tuple[list[str], list[str]]]:
    """Per variant ("original" first), the perturbed texts of ``pos`` and of ``neg``."""
    out = {}
    for name, fn in {"original": None, **perturber.variants}.items():
        vr = random.Random(seed)
        p_text = [r.text if fn is None else fn(r.text, vr) for r in pos]
        n_text = [r.text if fn is None else fn(r.text, vr) for r in neg]
        out[name] = (p_text, n_text)
    return out


def speed(
    model: PreTrainedModel, tok: PreTrainedTokenizerBase, charset: str, seed: int, rounds: int = 10
) -> dict[str, float]:
    """texts/s at batch 32 x 128 characters (tokenization included), fp32 and bf16, and the
    largest score difference between the two on the same inputs."""
    rng = random.Random(seed)
    texts = ["".join(rng.choice(charset) for _ in range(128)) for _ in range(32)]
    out: dict[str, float] = {}
    base: Array | None = None
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        m: Any = model
        m.to(dtype)
        predict(m, tok, texts, batch=32)  # warm-up
        t0 = time.perf_counter()
        for _ in range(rounds):
            scores = predict(m, tok, texts, batch=32)
        out[f"{name}_texts_per_s"] = round(32 * rounds / (time.perf_counter() - t0), 1)
        if base is None:
            base = scores
        else:
            out["bf16_max_abs_score_diff"] = round(float(np.abs(scores - base).max()), 4)
    restore: Any = model
    restore.to(torch.float32)
    return out
