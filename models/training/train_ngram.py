"""Training and scoring of the character n-gram model (:mod:`models.ngram`).

The embedding table (half a million rows) is updated by plain SGD on the rows a batch
touches, as fastText does, with the gradient of each bag computed by autograd and spread
over its ids by hand (``index_add_``): a dense optimizer would update every row each step,
and torch's sparse optimizers spend most of a step sorting the sparse gradient (measured
200 ms a step for SparseAdam against ~5 ms this way). The direction embedding and the head
use AdamW. Deterministic for a given seed and thread count.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models.ngram import NgramNet, bag_sizes, pack
from models.ngram_features import Featurizer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NgramConfig:
    buckets: int = 1 << 19
    dim: int = 48
    hidden: int = 128
    epochs: float = 6.0
    batch_size: int = 64
    lr: float = 0.5  # embeddings: SGD per row, as fastText (scaled by the batch size)
    head_lr: float = 0.002
    seed: int = 0
    max_minutes: float = 40.0
    # Rare codes (a few dozen rows among tens of thousands) otherwise never score above a
    # threshold: a code's positives weigh sqrt(most common code's count / its count), at
    # most this much (1 turns it off).
    pos_weight_cap: float = 1.0
    # Fit the "any unsafe" head (models.ngram_any) after the per-code outputs.
    any_head: bool = True
    # Weight of a prompt to an assistant (direction "in", not a social-media comment) in the
    # head's fit, against 1 for every other row: the head judges prompts only, and a third
    # of the training rows are social-media comments (a different kind of text). At 2, the
    # head alone caught 2-5 points more of every validation source of harmful prompts at 1%
    # of everyday validation prompts flagged (zh paired 0.72 -> 0.76, en 0.63 -> 0.68).
    any_prompt_weight: float = 2.0
    # Latin word n-gram orders of the features (models.ngram_features.FeatureConfig). With
    # word pairs, two retrains (seeds 0 and 1) flagged 5.6-5.7% of Davidson's benign English
    # tweets against 7.7-9.3% without; English and Chinese recall moved within seed noise.
    word_orders: tuple[int, ...] = (1, 2)


@dataclass(frozen=True, slots=True)
class Features:
    """Training texts as feature ids: one window each (the first), kept as numpy arrays
    (a Python list of ints per row would take ten times the memory)."""

    ids: list[np.ndarray]
    directions: np.ndarray

    def batch(self, index: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        parts = [self.ids[i] for i in index]
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
        offsets = np.zeros(len(parts), dtype=np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return (
            torch.from_numpy(flat),
            torch.from_numpy(offsets),
            torch.from_numpy(self.directions[list(index)]),
        )


def featurize(featurizer: Featurizer, texts: Sequence[str]) -> Features:
    """One row per text: its first window (training texts are cut to one window)."""
    ids: list[np.ndarray] = []
    directions = np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        direction, windows = featurizer.split(text)
        directions[i] = direction
        ids.append(featurizer.ids(windows[0]))
    return Features(ids, directions)


def pos_weights(targets: torch.Tensor, cap: float) -> torch.Tensor:
    """Per code: sqrt(positives of the most common code / its positives), in [1, cap]."""
    counts = targets.sum(dim=0).clamp(min=1.0)
    return (counts.max() / counts).sqrt().clamp(1.0, max(1.0, cap))


def train(
    net: NgramNet, rows: Features, targets: torch.Tensor, cfg: NgramConfig
) -> dict[str, float]:
    """Train in place; returns timing figures for the model card."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    table = net.embedding.weight
    table.requires_grad_(False)
    dense_params = [p for n, p in net.named_parameters() if not n.startswith("embedding.")]
    dense = torch.optim.AdamW(dense_params, lr=cfg.head_lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(rows.ids) / cfg.batch_size)
    total = max(1, int(steps_per_epoch * cfg.epochs))
    start = time.monotonic()
    step, stopped = 0, False
    net.train()
    weight = pos_weights(targets, cfg.pos_weight_cap)
    order = list(range(len(rows.ids)))
    while step < total and not stopped:
        rng.shuffle(order)
        for s in range(0, len(order), cfg.batch_size):
            if step >= total:
                break
            if time.monotonic() - start > cfg.max_minutes * 60:
                log.warning("max-minutes reached at step %d of %d", step, total)
                stopped = True
                break
            batch = order[s : s + cfg.batch_size]
            frac = 1.0 - step / total  # linear decay to zero, as fastText does
            for group in dense.param_groups:
                group["lr"] = cfg.head_lr * frac
            ids, offsets, directions = rows.batch(batch)
            sums = nn.functional.embedding_bag(ids, table, offsets, mode="sum")
            sums.requires_grad_(True)
            logits = net.head(sums, bag_sizes(ids, offsets), directions)
            loss = (
                nn.functional.binary_cross_entropy_with_logits(
                    logits, targets[batch], reduction="none", pos_weight=weight
                )
                .sum(dim=1)
                .mean()
            )
            dense.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            dense.step()
            _sgd_rows(table, ids, offsets, sums.grad, cfg.lr * len(batch) * frac)
            step += 1
            if step % 500 == 0:
                log.info(
                    "step %d/%d loss %.4f %.0f s",
                    step,
                    total,
                    loss.item(),
                    time.monotonic() - start,
                )
    net.eval()
    elapsed = time.monotonic() - start
    return {
        "steps": step,
        "planned_steps": total,
        "train_seconds": round(elapsed, 1),
        "rows_per_second": round(step * cfg.batch_size / max(elapsed, 1e-9), 1),
        "stopped_early": float(stopped),
    }


def _sgd_rows(
    table: torch.Tensor,
    ids: torch.Tensor,
    offsets: torch.Tensor,
    bag_grad: torch.Tensor | None,
    lr: float,
) -> None:
    """SGD on the table rows of ``ids``: every id of a bag gets the gradient of the bag's
    sum (which the smoothed mean already divides by ``n + PRIOR_WEIGHT``); repeated ids
    accumulate, as the sum's gradient does."""
    if bag_grad is None or len(ids) == 0:
        return
    lengths = torch.diff(offsets, append=torch.tensor([len(ids)]))
    owner = torch.repeat_interleave(torch.arange(len(offsets)), lengths)
    with torch.no_grad():
        table.index_add_(0, ids, bag_grad[owner], alpha=-lr)


def score(
    net: NgramNet, featurizer: Featurizer, texts: Sequence[str], batch: int = 256
) -> np.ndarray:
    """Sigmoid scores per text, the maximum over its windows (as the gateway scores it)."""
    return _max_over_windows(net, featurizer, texts, net.out.out_features, batch)


def any_score(
    net: NgramNet, featurizer: Featurizer, texts: Sequence[str], batch: int = 256
) -> np.ndarray:
    """The "any unsafe" head's probability per text, the maximum over its windows."""
    if net.any_head is None:
        raise ValueError("the model has no 'any unsafe' head")
    return _max_over_windows(net.any_head, featurizer, texts, None, batch)


@torch.inference_mode()
def _max_over_windows(
    module: nn.Module,
    featurizer: Featurizer,
    texts: Sequence[str],
    width: int | None,
    batch: int,
) -> np.ndarray:
    """``sigmoid(module(ids, offsets, directions))`` per text, the maximum over its windows;
    shape (n, width), or (n,) when ``width`` is None (a module with one output per row)."""
    rows: list[np.ndarray] = []
    owner: list[int] = []
    for i, text in enumerate(texts):
        for row in featurizer.rows(text):
            rows.append(row)
            owner.append(i)
    out = np.zeros((len(texts),) if width is None else (len(texts), width), dtype=np.float32)
    if not rows:
        return out
    probs = np.concatenate(
        [
            torch.sigmoid(module(*pack(rows[s : s + batch]))).numpy()
            for s in range(0, len(rows), batch)
        ]
    )
    np.maximum.at(out, np.asarray(owner), probs)
    return out
