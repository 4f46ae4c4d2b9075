"""The n-gram model's "any unsafe" head: one logistic regression over TF-IDF-weighted n-grams.

The per-code outputs of :class:`models.ngram.NgramNet` each learn from their own code's
rows; a harmful prompt on a subject no training row had (a new scam, a new weapon) may then
score low on every code. A single linear model of "unsafe or not", trained on every positive
at once over the same hashed features, generalizes better to such prompts: on the project's
test split it caught about twice as many unseen-topic harmful prompts at the same share of
benign prompts flagged. It does not name a category: when it fires (its score at or over the
threshold the recipe calibrated, ``any_threshold`` in the model config: one for text with
Chinese characters, one for text without, since the two have different benign traffic), the prompt's top
code is raised over every input threshold (``combine``).

Features: a window's ids (with repeats) weigh their inverse document frequency and the sum
is divided by the L2 norm of those weights (plus ``PRIOR_NORM``), as a TF-IDF vector is
normalized, so a long prompt is judged by its telling n-grams instead of their average with
the rest, and a prompt of a few words is not judged on them alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from models.ngram_features import DIRECTION_CODES, SCRIPT_LATIN

# The featurizer's direction code of an answer ("[OUT]"; models.ngram_features).
OUTPUT = DIRECTION_CODES["[OUT]"]
# The least score a prompt's top code gets when the head fires: above every input threshold
# the recipe calibrates, so the head's own threshold decides.
FIRED = 0.9
# Pseudo-norm added to each text's norm: a prompt of a few words ("请回答我的问题。", "Go
# on") has a small norm, and divided by it alone its few n-grams would be judged as surely
# as a paragraph's; with it, a short text's score is pulled toward the bias (as the per-code
# outputs' mean is pulled toward a learnt prior). About the norm of a 10-character prompt.
PRIOR_NORM = 20.0
# Inverse regularization strength of the logistic regression (scikit-learn's C): weak
# regularization, as for a TF-IDF model over a few hundred thousand n-grams.
C = 4.0


class AnyHead(nn.Module):
    """``logit = (sum over ids of idf * w) / (sqrt(sum over ids of idf^2) + PRIOR_NORM)
    + bias[direction]``."""

    idf: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, buckets: int) -> None:
        super().__init__()
        self.register_buffer("idf", torch.ones(buckets))
        self.register_buffer("weight", torch.zeros(buckets))
        # Per direction (none, in, out) and script (Chinese, none): the featurizer's code.
        self.register_buffer("bias", torch.zeros(2 * SCRIPT_LATIN))
        self._cache: tuple[object, torch.Tensor] | None = None

    def forward(
        self, ids: torch.Tensor, offsets: torch.Tensor, directions: torch.Tensor
    ) -> torch.Tensor:
        # One bag-sum over a (buckets, 2) table of [idf * weight, idf^2] gives each row's dot
        # product and squared norm in a single pass over its ids (two gathers cost 2.5x).
        sums = nn.functional.embedding_bag(ids, self._table(), offsets, mode="sum")
        return sums[:, 0] / (sums[:, 1].sqrt() + PRIOR_NORM) + self.bias[directions]

    def _table(self) -> torch.Tensor:
        key = (self.idf._version, self.weight._version, self.idf.data_ptr(), self.weight.dtype)
        if self._cache is None or self._cache[0] != key:
            table = torch.stack((self.idf * self.weight, self.idf * self.idf), dim=1)
            self._cache = (key, table.contiguous())
        return self._cache[1]


def combine(
    logits: torch.Tensor,
    any_logit: torch.Tensor,
    directions: torch.Tensor,
    threshold: tuple[float, float],
) -> torch.Tensor:
    """Per-code logits where each prompt the head scores at or over ``threshold`` has its top
    code raised to at least ``FIRED`` (more, the surer the head): flagged under the
    category the per-code outputs rank first, whatever that category's policy threshold
    below ``FIRED``. The head has one calibrated operating point of its own (the model
    config's ``any_threshold``), so how often it fires does not depend on which code
    happens to rank first. Answers (``OUTPUT``) keep the per-code logits: a stream is
    checked every few characters and a benign answer cut off is the most visible failure."""
    p = torch.sigmoid(any_logit.float())
    latin = directions >= SCRIPT_LATIN
    t = torch.where(latin, threshold[1], threshold[0])
    fired = (p >= t) & (directions % SCRIPT_LATIN != OUTPUT)
    if not bool(fired.any()):
        return logits
    span = (1.0 - t).clamp_min(1e-6)
    raised = torch.logit(FIRED + (1.0 - FIRED) * ((p - t) / span).clamp(0.0, 0.999))
    top = logits.argmax(dim=1, keepdim=True)
    current = logits.gather(1, top)
    new = torch.where(
        fired[:, None], torch.maximum(current, raised[:, None].to(logits.dtype)), current
    )
    return logits.scatter(1, top, new)


def inverse_document_frequency(rows: Sequence[np.ndarray], buckets: int) -> np.ndarray:
    """Smoothed idf per bucket over ``rows`` (the training texts' ids): ``ln((1 + N) /
    (1 + df)) + 1``, as scikit-learn smooths it."""
    df = np.zeros(buckets, dtype=np.int64)
    for r in rows:
        df[np.unique(r)] += 1
    return (np.log((1 + len(rows)) / (1 + df)) + 1.0).astype(np.float32)


def fit(
    head: AnyHead,
    rows: Sequence[np.ndarray],
    directions: np.ndarray,
    unsafe: np.ndarray,
    weights: np.ndarray | None = None,
) -> dict[str, float]:
    """Fit ``head`` in place on the training rows' ids and directions; ``unsafe`` is 1 for a
    row with any code, ``weights`` each row's sample weight (default 1). Needs scikit-learn
    (the ``train`` extra)."""
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    buckets = len(head.idf)
    idf = inverse_document_frequency(rows, buckets)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=indptr[1:])
    # Each row: its ids weighted idf / norm, then one column for its direction.
    indices = np.empty(indptr[-1], dtype=np.int64)
    values = np.empty(indptr[-1], dtype=np.float32)
    for i, r in enumerate(rows):
        a, b = indptr[i], indptr[i + 1] - 1
        w = idf[r]
        indices[a:b] = r
        values[a:b] = w / (float(np.sqrt((w * w).sum())) + PRIOR_NORM)
        indices[b] = buckets + int(directions[i])
        values[b] = 1.0
    x = csr_matrix((values, indices, indptr), shape=(len(rows), buckets + len(head.bias)))
    x.sum_duplicates()
    model = LogisticRegression(C=C, max_iter=1000, fit_intercept=False)
    model.fit(x, unsafe.astype(np.int64), sample_weight=weights)
    coef = model.coef_[0]
    with torch.no_grad():
        head.idf.copy_(torch.from_numpy(idf))
        head.weight.copy_(torch.from_numpy(coef[:buckets].astype(np.float32)))
        head.bias.copy_(torch.from_numpy(coef[buckets:].astype(np.float32)))
    return {"any_head_iterations": float(np.max(model.n_iter_))}
