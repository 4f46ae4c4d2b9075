"""The n-gram trainer's weighting of rare codes."""

from __future__ import annotations

import torch

from models.training.train_ngram import pos_weights


def test_rare_codes_weigh_more_up_to_the_cap() -> None:
    # 400 rows: code 0 on 100 of them, code 1 on 25, code 2 on 1, code 3 on none.
    t = torch.zeros(400, 4)
    t[:100, 0] = 1
    t[:25, 1] = 1
    t[0, 2] = 1
    w = pos_weights(t, cap=8.0)
    assert w[0].item() == 1.0  # the most common code is not reweighted
    assert abs(w[1].item() - 2.0) < 1e-6  # sqrt(100 / 25)
    assert w[2].item() == 8.0 and w[3].item() == 8.0  # sqrt(100) = 10, capped
    assert torch.equal(pos_weights(t, cap=1.0), torch.ones(4))  # 1 turns it off
