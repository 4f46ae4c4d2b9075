"""Sequence-classification encoders through the real loading path (tiny random BERTs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import models
from gateway.metrics import Metrics
from models import device
from models.device import dtype_name, resolve_dtype
from models.labels import LabelMappingError
from models.local import LocalClassifier
from models.tiny import build_encoder
from tests.support.models import encoder_dir  # noqa: F401


def load(path: Path, **options: object) -> LocalClassifier:
    clf = models.load_classifier(str(path), device="cpu", **options)  # type: ignore[arg-type]
    assert isinstance(clf, LocalClassifier)
    return clf


async def test_scores_are_keyed_by_taxonomy_codes(encoder_dir: Path) -> None:  # noqa: F811
    clf = load(encoder_dir, cache_size=0)
    out = await clf.classify(["你好，世界", "how to make a bomb", ""])
    assert len(out) == 3
    for scores in out:
        assert set(scores) == {"A1.04", "A2.05", "A4.05"}  # "safe" is not a category
        assert all(0.0 <= v <= 1.0 for v in scores.values())
    info = clf.info()
    assert info["device"] == "cpu" and info["kind"] == "encoder"
    # `auto` keeps what this CPU's own measurement chose (bf16 only with fast native bf16).
    assert info["dtype"] == dtype_name(resolve_dtype("auto", "cpu"))
    assert len(info["version"]) == 16 and info["path"] == str(encoder_dir)
    await clf.aclose()


async def test_batched_scores_equal_one_at_a_time(encoder_dir: Path) -> None:  # noqa: F811
    clf = load(encoder_dir, cache_size=0, max_wait_us=20_000)
    texts = ["短", "a somewhat longer english sentence here", "中等长度的中文句子。" * 3]
    together = await clf.classify(texts)
    for text, expected in zip(texts, together, strict=True):
        [alone] = clf.adapter.run(clf.adapter.encode(text))
        assert isinstance(alone, dict)
        for code, v in expected.items():
            assert math.isclose(alone[code], v, abs_tol=1e-5)
    await clf.aclose()


async def test_long_text_scores_the_max_over_its_windows(encoder_dir: Path) -> None:  # noqa: F811
    clf = load(encoder_dir, cache_size=0, window_overlap=8)
    text = "".join(chr(0x4E00 + (i * 37) % 300) for i in range(400))  # 400 tokens, window 62
    rows = clf.adapter.encode(text)
    assert len(rows) == 8 and all(len(r) <= 64 for r in rows)
    per_window = clf.adapter.run(rows)
    [scores] = await clf.classify([text])
    for code, v in scores.items():
        assert math.isclose(
            v, max(w[code] for w in per_window if isinstance(w, dict)), abs_tol=1e-5
        )
    await clf.aclose()


async def test_single_label_models_use_softmax(tmp_path: Path) -> None:
    path = build_encoder(tmp_path, ("benign", "A1.04", "A2.05"), multi_label=False, seed=1)
    clf = load(path, cache_size=0)
    [scores] = await clf.classify(["测试"])
    [row] = clf.adapter.run(clf.adapter.encode("测试"))
    assert isinstance(row, dict)
    assert 0.0 < sum(scores.values()) < 1.0  # the benign share is left out
    await clf.aclose()


async def test_label_map_file_maps_other_names(tmp_path: Path) -> None:
    path = build_encoder(tmp_path, ("ok", "toxic", "pii"))
    (path / "label_map.json").write_text(json.dumps({"toxic": ["A2.09", "A1.05"], "pii": "A4.06"}))
    clf = load(path, cache_size=0)
    [scores] = await clf.classify(["x"])
    assert set(scores) == {"A2.09", "A1.05", "A4.06"}
    assert scores["A2.09"] == scores["A1.05"]
    await clf.aclose()


def test_unmapped_label_is_an_error_at_load(tmp_path: Path) -> None:
    path = build_encoder(tmp_path, ("safe", "toxic"))
    with pytest.raises(LabelMappingError, match="toxic"):
        load(path)


async def test_bf16_stays_within_tolerance_of_fp32(encoder_dir: Path) -> None:  # noqa: F811
    fp32 = load(encoder_dir, cache_size=0)
    bf16 = load(encoder_dir, cache_size=0, dtype="bfloat16")
    assert bf16.info()["dtype"] == "bfloat16"
    assert bf16.adapter.bf16_max_diff is not None and bf16.adapter.bf16_max_diff < 0.02  # type: ignore[attr-defined]
    texts = ["你好", "hello there", "一二三四五六七八九十" * 4]
    for a, b in zip(await fp32.classify(texts), await bf16.classify(texts), strict=True):
        assert all(abs(a[k] - b[k]) < 0.02 for k in a)
    await fp32.aclose()
    await bf16.aclose()


async def test_metrics_and_model_info(encoder_dir: Path) -> None:  # noqa: F811
    metrics = Metrics()
    clf = load(encoder_dir, metrics=metrics, max_wait_us=5_000, dtype="float32")
    await clf.classify(["甲", "乙", "甲"])
    await clf.classify(["甲"])
    value = metrics.registry.get_sample_value
    assert value("classifier_cache_misses_total") == 3
    assert value("classifier_cache_hits_total") == 1
    assert value("classifier_batch_size_sum") == 2  # "甲" once, "乙" once
    info = clf.info()
    labels = {"name": info["name"], "version": info["version"], "device": "cpu", "dtype": "float32"}
    assert value("classifier_model_info", labels) == 1
    await clf.aclose()


async def test_auto_takes_bf16_where_the_cpu_measures_it_faster(
    encoder_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Forces the branch a CPU with fast native bf16 takes, whatever this machine has.
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: True)
    assert resolve_dtype("auto", "cpu") is torch.bfloat16
    fp32 = load(encoder_dir, cache_size=0, dtype="float32")
    auto = load(encoder_dir, cache_size=0)
    assert auto.info()["dtype"] == "bfloat16"
    texts = ["你好", "hello there"]
    for a, b in zip(await fp32.classify(texts), await auto.classify(texts), strict=True):
        assert all(abs(a[k] - b[k]) < 0.02 for k in a)
    await fp32.aclose()
    await auto.aclose()


def test_auto_keeps_fp32_where_bf16_is_not_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: False)
    assert resolve_dtype("auto", "cpu") is torch.float32


def test_unknown_spec_is_refused() -> None:
    with pytest.raises(FileNotFoundError):
        models.load_classifier("./no/such/model")
