"""Per-category threshold calibration on the validation split (pure numpy over score arrays).

Max-F1 thresholds per code (:func:`f1_thresholds`), raised until each benign pool is within
its false-positive budget (:func:`meet_budget`); then the threshold of the model's "any
unsafe" head, as low as the budgets left over allow (:func:`any_threshold`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.training.evaluate import Array, binary, flagged

_GRID = np.round(np.arange(0.1, 0.96, 0.025), 3)
# A threshold shared by thin codes is still a guess: never below this.
_SHARED_FLOOR = 0.2
_STEP = 0.025
_CEILING = 0.995
_ANY_GRID = np.round(np.arange(0.3, 1.0, 0.01), 2)


def calibrate(
    scores: Array,
    truth: Array,
    benign: Sequence[Array],
    fpr_budget: float,
    min_support: int = 30,
) -> tuple[Array, float]:
    """Per-code thresholds, then a benign false-positive budget.

    1. A code with at least ``min_support`` validation positives gets the grid threshold of
       max F1 (the middle of a tie). The thinner codes share one threshold, of max F1 for
       "any of them" on their pooled positives, when the pool reaches ``min_support``; else
       they keep 0.5 (tuned on a handful of rows, a threshold is noise, and a low one flags
       benign text in production).
    2. While the share of any benign pool (``benign``: e.g. prompts, and answers as a stream
       shows them) flagged by any code exceeds ``fpr_budget``, raise by one step the
       threshold that removes flags in the pools over budget at the lowest cost in detected
       positives. Raising "the most offending code" instead once pushed the main COLD code
       to 0.99 and halved recall to remove a single benign row.

    Returns the thresholds and the highest benign-pool FPR they leave on the calibration data."""
    th = f1_thresholds(scores, truth, min_support)
    return meet_budget(th, scores[truth.any(axis=1)], benign, fpr_budget)


def f1_thresholds(
    scores: Array, truth: Array, min_support: int = 30, floor: float = _SHARED_FLOOR
) -> Array:
    """Step 1 of :func:`calibrate`: max-F1 thresholds, thin codes sharing one."""
    n_labels = scores.shape[1]
    th = np.full(n_labels, max(0.5, floor))
    thin = [j for j in range(n_labels) if truth[:, j].sum() < min_support]
    for j in range(n_labels):
        if j not in thin:
            th[j] = _best_f1(scores[:, j], truth[:, j], th[j])
    # Codes too thin to tune alone share one threshold, tuned on their pooled positives
    # ("any thin code"): a few dozen positives spread over many codes carry more signal
    # together than a 0.5 guess for each.
    if thin and truth[:, thin].any(axis=1).sum() >= min_support:
        pooled_truth = np.asarray(truth[:, thin].any(axis=1))
        shared = _best_f1(scores[:, thin].max(axis=1), pooled_truth, 0.5)
        th[thin] = max(shared, floor)
    return th


def meet_budget(
    th: Array, positives: Array, benign: Sequence[Array], fpr_budget: float
) -> tuple[Array, float]:
    """Step 2 of :func:`calibrate`: raise thresholds, cheapest first in ``positives`` lost,
    until every pool in ``benign`` is flagged at most ``fpr_budget``. Returns the new
    thresholds and the highest pool FPR left."""
    th = th.copy()
    for _ in range(1000):
        over = [b for b in benign if _rate_any(b, th) > fpr_budget]
        if not over:
            break
        raise_code = _cheapest_raise(np.concatenate(over), positives, th)
        if raise_code is None:
            break
        th[raise_code] = min(_CEILING, th[raise_code] + _STEP)
    return th, max((_rate_any(b, th) for b in benign), default=0.0)


def any_threshold(
    pools: Sequence[tuple[Array, Array, float]],
    accuracy: Sequence[tuple[Array, Array, Array]] = (),
) -> float:
    """The lowest threshold of the "any unsafe" head (:mod:`models.ngram_any`) that keeps
    every pool within its budget: each pool is ``(flagged by the per-code thresholds, head
    scores, budget)``; a pool already over budget without the head may not get worse. Each
    ``accuracy`` set ``(flagged by the per-code thresholds, head scores, truth)`` may not
    lose accuracy: the head may flag no more of its negatives than it adds of its positives.
    1.0 (the head never fires) when no grid value fits."""
    for t in _ANY_GRID:
        within = all(
            float(np.mean(flags | (head >= t))) <= max(budget, float(np.mean(flags)))
            for flags, head, budget in pools
            if len(flags)
        )
        if within and all(
            int(((head >= t) & ~flags & truth).sum()) >= int(((head >= t) & ~flags & ~truth).sum())
            for flags, head, truth in accuracy
        ):
            return float(t)
    return 1.0


def _best_f1(scores: Array, truth: Array, default: float) -> float:
    """The grid threshold of max F1 (the middle of the best plateau, not its lowest edge)."""
    f1s = [binary(scores >= t, truth)["f1"] for t in _GRID]
    if max(f1s) <= 0:
        return default
    best = [t for t, f in zip(_GRID, f1s, strict=True) if f >= max(f1s) - 1e-9]
    return float(best[len(best) // 2])


def _cheapest_raise(benign: Array, positives: Array, th: Array) -> int | None:
    """The code whose one-step raise loses the fewest detected positives per benign row it
    clears; when no single raise clears a row (rows flagged by several codes), the code that
    flags the most benign rows."""
    base_fp = int(flagged(benign, th).any(axis=1).sum())
    base_tp = int(flagged(positives, th).any(axis=1).sum())
    best: tuple[float, int] | None = None
    for j in range(len(th)):
        if th[j] >= _CEILING:
            continue
        raised = th.copy()
        raised[j] = min(_CEILING, th[j] + _STEP)
        cleared = base_fp - int(flagged(benign, raised).any(axis=1).sum())
        if cleared <= 0:
            continue
        cost = (base_tp - int(flagged(positives, raised).any(axis=1).sum())) / cleared
        if best is None or cost < best[0]:
            best = (cost, j)
    if best is not None:
        return best[1]
    hits = flagged(benign, th).sum(axis=0).astype(float)
    hits[th >= _CEILING] = -1
    return int(np.argmax(hits)) if hits.max() > 0 else None


def _rate_any(scores: Array, th: Array) -> float:
    return float(np.mean(flagged(scores, th).any(axis=1))) if len(scores) else 0.0
