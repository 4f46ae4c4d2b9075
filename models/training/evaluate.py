"""Scoring, metrics and per-category threshold calibration (pure numpy over score arrays,
plus one ``predict`` that runs the model)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from models.training.train import collate

Array = np.ndarray


@torch.inference_mode()
def predict(
    model: PreTrainedModel,
    tok: PreTrainedTokenizerBase,
    texts: Sequence[str],
    max_length: int = 128,
    batch: int = 64,
) -> Array:
    """Sigmoid scores, shape (len(texts), num_labels); texts are length-sorted for speed."""
    ids: list[list[int]] = tok(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
    pad = int(tok.pad_token_id or 0)
    device = model.device
    for s in range(0, len(order), batch):
        part = order[s : s + batch]
        input_ids, mask = collate([ids[i] for i in part], pad)
        logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
        out[part] = torch.sigmoid(logits.float()).cpu().numpy()
    return out


def flagged(scores: Array, thresholds: Array) -> Array:
    """Boolean matrix: code score at or above its threshold."""
    return np.asarray(scores >= thresholds[None, :])


def binary(pred: Array, truth: Array) -> dict[str, float]:
    """Accuracy, precision, recall, F1 for boolean vectors."""
    tp = float(np.sum(pred & truth))
    fp = float(np.sum(pred & ~truth))
    fn = float(np.sum(~pred & truth))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "n": len(truth),
        "accuracy": round(float(np.mean(pred == truth)), 4) if len(truth) else 0.0,
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
    }


def per_code(
    scores: Array, truth: Array, thresholds: Array, labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per-code precision/recall/F1 and support at the given thresholds."""
    pred = flagged(scores, thresholds)
    out = {}
    for j, code in enumerate(labels):
        m = binary(pred[:, j], truth[:, j])
        m["support"] = int(truth[:, j].sum())
        out[code] = m
    return out


_GRID = np.round(np.arange(0.05, 0.96, 0.025), 3)


def calibrate(
    scores: Array,
    truth: Array,
    benign: Sequence[Array],
    fpr_budget: float,
    min_support: int = 3,
) -> tuple[Array, float]:
    """Per-code thresholds: max F1 on validation, then raised (most offending code first)
    until, in every benign set, the share flagged by any code is at most ``fpr_budget``.
    Returns thresholds and the worst benign FPR they reach on the calibration data."""
    n_labels = scores.shape[1]
    th = np.full(n_labels, 0.5)
    for j in range(n_labels):
        if truth[:, j].sum() < min_support:
            continue
        f1s = [binary(scores[:, j] >= t, truth[:, j])["f1"] for t in _GRID]
        if max(f1s) > 0:  # a code the model never gets right keeps 0.5, not the grid's floor
            th[j] = _GRID[int(np.argmax(f1s))]
    fpr = _worst_fpr(benign, th)
    for _ in range(400):
        if fpr <= fpr_budget:
            break
        hits = sum(flagged(b, th).sum(axis=0) / max(1, len(b)) for b in benign)
        worst = int(np.argmax(hits))
        th[worst] = min(0.995, th[worst] + 0.025)
        fpr = _worst_fpr(benign, th)
    return th, fpr


def _worst_fpr(benign: Sequence[Array], th: Array) -> float:
    return max((float(np.mean(flagged(b, th).any(axis=1))) for b in benign if len(b)), default=0.0)
