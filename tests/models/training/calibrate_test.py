"""Threshold calibration: max F1 where validation supports it, then a benign FPR budget met
at the lowest cost in detected positives."""

from __future__ import annotations

import numpy as np
import pytest

from models.training.thresholds import any_threshold, calibrate


def _case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Code 0: the main code, 100 positives scored 0.6-0.95 and 100 negatives below 0.3.
    Code 1: 40 positives at 0.7 (no negatives near them). Benign prompts: one scored 0.9
    on code 0 (costly to clear: every code-0 positive below 0.925 would go), four scored
    0.55 on code 1 (cheap to clear: code 1's positives sit at 0.7)."""
    rng = np.random.default_rng(0)
    pos0 = np.c_[rng.uniform(0.6, 0.95, 100), np.zeros(100)]
    neg = np.c_[rng.uniform(0.0, 0.3, 100), np.zeros(100)]
    pos1 = np.c_[np.zeros(40), np.full(40, 0.7)]
    scores = np.r_[pos0, neg, pos1]
    truth = np.zeros_like(scores, dtype=bool)
    truth[:100, 0] = True
    truth[200:, 1] = True
    benign = np.r_[[[0.9, 0.0]], [[0.0, 0.55]] * 4, np.zeros((95, 2))]
    return scores, truth, benign


def test_codes_start_at_their_max_f1_threshold() -> None:
    scores, truth, _ = _case()
    th, fpr = calibrate(scores, truth, [np.zeros((10, 2))], fpr_budget=0.02)
    assert 0.3 <= th[0] <= 0.6 and 0.3 <= th[1] <= 0.7
    assert fpr == 0.0


def test_budget_is_met_by_the_cheapest_raises() -> None:
    scores, truth, benign = _case()
    th, fpr = calibrate(scores, truth, [benign], fpr_budget=0.02)
    assert fpr <= 0.02
    assert th[1] > 0.55  # the four cheap rows are cleared by raising code 1 ...
    assert th[0] <= 0.6  # ... and code 0, whose benign row is costly, keeps its recall
    assert np.mean(scores[:100, 0] >= th[0]) == 1.0


def test_thin_codes_keep_the_default_threshold() -> None:
    scores = np.c_[np.r_[np.full(5, 0.15), np.zeros(95)]]
    truth = np.c_[np.r_[np.ones(5, dtype=bool), np.zeros(95, dtype=bool)]]
    th, _ = calibrate(scores, truth, [np.zeros((10, 1))], fpr_budget=0.02)
    assert th[0] == 0.5  # five positives are too few to trust a tuned 0.15


def test_thin_codes_share_a_threshold_tuned_on_their_pooled_positives() -> None:
    """Three codes with 12 positives each (too few alone, 36 together) scored 0.3-0.4 and
    negatives below 0.15: the shared threshold sits between them, not at 0.5."""
    rng = np.random.default_rng(1)
    scores = np.zeros((136, 3))
    truth = np.zeros((136, 3), dtype=bool)
    for j in range(3):
        rows = slice(12 * j, 12 * (j + 1))
        scores[rows, j] = rng.uniform(0.3, 0.4, 12)
        truth[rows, j] = True
    scores[36:] = rng.uniform(0.0, 0.15, (100, 3))
    th, _ = calibrate(scores, truth, [np.zeros((10, 3))], fpr_budget=0.02)
    assert len(set(th.tolist())) == 1 and 0.15 <= th[0] <= 0.3


def test_the_any_threshold_is_the_lowest_the_budgets_allow() -> None:
    # Everyday prompts: none flagged by the codes; head scores 0.01 .. 1.0 (100 rows).
    head = np.linspace(0.01, 1.0, 100)
    flags = np.zeros(100, dtype=bool)
    t = any_threshold([(flags, head, 0.05)])
    assert np.mean(head >= t) <= 0.05 and np.mean(head >= t - 0.01) > 0.05


def test_every_pool_must_hold_and_a_pool_over_budget_may_not_get_worse() -> None:
    head = np.linspace(0.01, 1.0, 100)
    loose = (np.zeros(100, dtype=bool), head, 0.5)
    strict = (np.zeros(100, dtype=bool), head, 0.02)
    assert any_threshold([loose, strict]) == any_threshold([strict])
    # Already 10% flagged by the codes (budget 5%): only rows the codes flag may be added.
    over = np.zeros(100, dtype=bool)
    over[-10:] = True
    assert any_threshold([(over, head, 0.05)]) == pytest.approx(0.91)
    assert any_threshold([(np.zeros(10, dtype=bool), np.ones(10), 0.0)]) == 1.0


def test_an_accuracy_set_may_not_lose_accuracy() -> None:
    # Head scores: positives at 0.9 (5 rows) and 0.5 (5), negatives at 0.6 (20 rows).
    head = np.r_[np.full(5, 0.9), np.full(5, 0.5), np.full(20, 0.6)]
    truth = np.r_[np.ones(10, dtype=bool), np.zeros(20, dtype=bool)]
    flags = np.zeros(30, dtype=bool)
    # Lower than 0.6 would flag 20 negatives for 5 more positives: 0.61 is the lowest kept.
    assert any_threshold([], [(flags, head, truth)]) == pytest.approx(0.61)
