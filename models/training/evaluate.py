"""Scoring and metrics (pure numpy over score arrays, plus one ``predict`` that runs the
model); threshold calibration is in :mod:`models.training.thresholds`."""

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
    """Boolean matrix: code score at or above its threshold (one threshold per code, or one
    row of thresholds per text when texts differ in direction)."""
    return np.asarray(scores >= (thresholds if thresholds.ndim == 2 else thresholds[None, :]))


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
