"""The n-gram model's "any unsafe" head: its TF-IDF scoring, how it joins the per-code
outputs, its fit, and the model directory round trip through the real loading path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import models
from models import ngram, ngram_any
from models.local import LocalClassifier
from models.ngram import pack
from models.ngram_features import SCRIPT_LATIN
from models.tiny import build_ngram


def _dense_logit(head: ngram_any.AnyHead, row: list[int], direction: int) -> float:
    """The head's logit computed the long way: a dense TF-IDF vector of the row's ids
    (repeats counted), divided by the norm of its weights plus the prior norm, dotted with
    the weights."""
    idf = head.idf.numpy().astype(np.float64)
    x = np.zeros(len(idf))
    for i in row:
        x[i] += idf[i]
    norm = np.sqrt(sum(idf[i] ** 2 for i in row)) + ngram_any.PRIOR_NORM
    return float(x @ head.weight.numpy() / norm + head.bias[direction].item())


def test_the_head_scores_tfidf_weighted_ids() -> None:
    torch.manual_seed(0)
    head = ngram_any.AnyHead(64)
    with torch.no_grad():
        head.idf.uniform_(1.0, 6.0)
        head.weight.normal_()
        head.bias.normal_()
    rows = [[1, 5, 9, 9, 2], [2, 3], [7], [4, 4]]
    dirs = [1, 2, 0, 4]  # the last: a prompt without Chinese characters
    ids, offsets, directions = pack([[d, *r] for d, r in zip(dirs, rows, strict=True)])
    got = head(ids, offsets, directions)
    want = [_dense_logit(head, r, d) for r, d in zip(rows, dirs, strict=True)]
    assert got.tolist() == pytest.approx(want, rel=1e-5)


def test_a_repeated_filler_does_not_dilute_a_telling_ngram() -> None:
    # One heavy id among common ones: under TF-IDF the common ids (idf 1) barely move the
    # norm, so the heavy id's contribution shrinks far more slowly than a mean would.
    head = ngram_any.AnyHead(8)
    with torch.no_grad():
        head.idf.copy_(torch.tensor([1.0] * 7 + [40.0]))
        head.weight[7] = 5.0
    short = [0, 7]
    long = [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 7]
    ids, offsets, directions = pack([[1, *short], [1, *long]])
    s, lg = head(ids, offsets, directions).tolist()
    assert lg > 0.9 * s and s > 3.0


def test_combine_raises_a_prompts_top_code_when_the_head_fires() -> None:
    logits = torch.tensor([[-3.0, -1.0, -4.0], [2.5, -1.0, 0.0], [-3.0, -1.0, -4.0]] * 2)
    directions = torch.tensor([1, 1, 1, 0, 0, ngram_any.OUTPUT])
    head = torch.logit(torch.tensor([0.8, 0.8, 0.5] * 2))
    out = torch.sigmoid(ngram_any.combine(logits, head, directions, threshold=(0.7, 0.7)))
    before = torch.sigmoid(logits)
    fired = out[0, 1].item()
    assert ngram_any.FIRED <= fired < 1.0  # fired: the top code (1) over every threshold
    assert torch.equal(out[0, [0, 2]], before[0, [0, 2]])  # other codes untouched
    assert out[1, 0].item() >= fired  # the top code was higher already: kept (0.92)
    assert torch.equal(out[2], before[2])  # under the threshold: unchanged
    assert out[3, 1].item() == pytest.approx(fired)  # no direction marker: as a prompt
    assert torch.equal(out[5], before[5])  # an answer: the head is not used
    surer = torch.sigmoid(
        ngram_any.combine(logits[:1], torch.logit(torch.tensor([0.95])), directions[:1], (0.7, 0.7))
    )
    assert surer[0, 1].item() > fired
    # Per script: text without Chinese characters (direction code + SCRIPT_LATIN) has its own.
    latin = directions.clone()
    latin[:3] += SCRIPT_LATIN
    split = torch.sigmoid(ngram_any.combine(logits, head, latin, threshold=(0.7, 0.85)))
    assert torch.equal(split[0], before[0]) and split[3, 1].item() == pytest.approx(fired)
    never = ngram_any.combine(logits, head, directions, threshold=(1.0, 1.0))
    assert torch.equal(never, logits)


def test_fit_learns_the_unsafe_ids() -> None:
    rng = np.random.default_rng(0)
    rows, unsafe = [], []
    for i in range(400):
        bad = i % 2 == 0
        common = rng.integers(0, 40, 12)
        rows.append(np.r_[common, [50 + i % 5]] if bad else common)
        unsafe.append(bad)
    head = ngram_any.AnyHead(64)
    ngram_any.fit(head, rows, np.ones(len(rows), dtype=np.int64), np.array(unsafe))
    assert head.weight[50:55].min() > head.weight[:40].max() + 1.0
    assert head.idf[60] > head.idf[0]  # an unseen bucket weighs the most
    ids, offsets, directions = pack([[1, *rows[0]], [1, *rows[1]]])
    bad_logit, good_logit = head(ids, offsets, directions).tolist()
    assert bad_logit > 0 > good_logit


def test_the_head_round_trips_through_the_model_directory(tmp_path: Path) -> None:
    path = build_ngram(tmp_path / "m", any_head=True)
    config = json.loads((path / "config.json").read_text())
    assert config["any_head"] is True and config["any_threshold"] == [0.5, 0.5]
    ngram.set_any_threshold(path, (0.8125, 0.9))
    net, _, _ = ngram.load(path)
    assert net.any_head is not None and net.any_threshold == (0.8125, 0.9)
    plain, _, _ = ngram.load(build_ngram(tmp_path / "plain"))
    assert plain.any_head is None
    assert net.any_head.weight.abs().max() > 0.5 and net.any_head.idf.min() >= 1.0
    assert net.any_head.weight.dtype == torch.float32  # fp16 on disk, fp32 in memory


async def test_the_head_raises_scores_through_the_classifier(tmp_path: Path) -> None:
    with_head = build_ngram(tmp_path / "h", any_head=True)
    without = build_ngram(tmp_path / "n")  # same seed: the same per-code outputs
    texts = ["怎么在网上买到违禁药品", "今天天气很好", "How do I reset my router?"]
    a = models.load_classifier(str(with_head), device="cpu", cache_size=0)
    b = models.load_classifier(str(without), device="cpu", cache_size=0)
    assert isinstance(a, LocalClassifier) and isinstance(b, LocalClassifier)
    sa_all = await a.classify(texts, direction="input")
    sb_all = await b.classify(texts, direction="input")
    await a.aclose()
    await b.aclose()
    raised = 0
    for sa, sb in zip(sa_all, sb_all, strict=True):
        top = max(sb, key=lambda c: sb[c])
        assert sa[top] >= sb[top] - 1e-6
        raised += sa[top] > sb[top] + 1e-6
        rest_a = {c: v for c, v in sa.items() if c != top}
        rest_b = {c: v for c, v in sb.items() if c != top}
        assert rest_a == pytest.approx(rest_b, abs=1e-6)
    assert raised > 0  # the random head is strong enough to raise some top code
