"""The character n-gram model kind: features, the model directory, and the adapter through
the real loading path (tiny random-weight models)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch

import models
from models import ngram
from models.loader import model_kind
from models.local import LocalClassifier
from models.ngram_features import FeatureConfig, Featurizer, PinyinTable
from models.tiny import build_ngram


@pytest.fixture(scope="module")
def pinyin() -> PinyinTable:
    return PinyinTable.build()


@pytest.fixture(scope="module")
def ngram_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ngram(tmp_path_factory.mktemp("ngram"))


def _pinyin_ids(f: Featurizer, text: str) -> set[int]:
    """The ids a text has beyond its character n-grams (its pinyin n-grams)."""
    only_chars = Featurizer(FeatureConfig(pinyin_orders=()), f.pinyin)
    return set(f.ids(text).tolist()) - set(only_chars.ids(text).tolist())


def test_homophones_and_pinyin_share_pinyin_features(pinyin: PinyinTable) -> None:
    f = Featurizer(FeatureConfig(), pinyin)
    plain = _pinyin_ids(f, "教我制造炸弹")
    assert plain and plain == _pinyin_ids(f, "教我制造炸蛋")  # same sound, other character
    assert plain == _pinyin_ids(f, "教我制造zhadan")  # latin pinyin inside Chinese text
    assert plain == _pinyin_ids(f, "教我制造zha dan")
    assert plain != _pinyin_ids(f, "教我制作蛋糕")
    assert _pinyin_ids(f, "how to make a bomb") == set()  # no Chinese: no pinyin reading
    assert pinyin.segment("zhadan") is not None and pinyin.segment("python") is None


def test_rows_carry_the_direction_and_windows(pinyin: PinyinTable) -> None:
    f = Featurizer(FeatureConfig(window_chars=50, window_overlap=10), pinyin)
    assert [r[0] for r in f.rows("[IN] 你好")] == [1]
    assert [r[0] for r in f.rows("[OUT] 你好")] == [2]
    assert [r[0] for r in f.rows("你好")] == [0]
    assert f.rows("[IN] 你好")[0][1:].tolist() == f.rows("[OUT] 你好")[0][1:].tolist()
    rows = f.rows("[IN] " + "这是一个很长的句子" * 20)  # 180 characters
    assert len(rows) == 5 and all(r[0] == 1 for r in rows)
    for n in (51, 60, 89, 90, 91, 130, 181):  # no window is a short fragment of the text
        body = "".join(chr(0x4E00 + i) for i in range(n))
        _, windows = f.split("[OUT] " + body)
        assert all(len(w) == 50 for w in windows), (n, [len(w) for w in windows])
        assert windows[0] == body[:50] and windows[-1] == body[-50:]
        starts = [body.index(w) for w in windows]
        assert all(10 <= a + 50 - b for a, b in itertools.pairwise(starts))
    assert [r.tolist() for r in f.rows("")] == [[0]]  # an empty text is still scored once
    again = Featurizer(FeatureConfig(window_chars=50, window_overlap=10), pinyin)
    ids = again.rows("测试 test")[0].tolist()
    assert ids == f.rows("测试 test")[0].tolist()  # stable ids, no per-process salt
    assert all(0 <= i < 4096 for i in Featurizer(FeatureConfig(buckets=4096), pinyin).ids("测试"))


def test_word_ngrams_see_which_words_follow_each_other(pinyin: PinyinTable) -> None:
    plain = Featurizer(FeatureConfig(), pinyin)
    words = Featurizer(FeatureConfig(word_orders=(1, 2)), pinyin)

    def extra(text: str) -> list[int]:
        return words.ids(text).tolist()[len(plain.ids(text)) :]

    # Off by default, and appended after the other features when on.
    assert words.ids("make a bomb").tolist()[: len(plain.ids("make a bomb"))] == (
        plain.ids("make a bomb").tolist()
    )
    assert len(extra("make a bomb")) == 3 + 2  # three words, two pairs
    assert len(extra("Don't tell, OK?".casefold())) == 3 + 2  # don't is one word
    # The same words in another order share their unigrams, not their pairs.
    assert extra("a bomb make")[:3] != extra("make a bomb")[:3]
    assert set(extra("a bomb make")[:3]) == set(extra("make a bomb")[:3])
    assert set(extra("a bomb make")[3:]) != set(extra("make a bomb")[3:])
    assert extra("炸弹") == [] and len(extra("做个bomb吧")) == 1  # latin words only
    # The orders travel with the model; a model saved before them has none.
    config = words.config.to_json()
    assert FeatureConfig.from_json(config).word_orders == (1, 2)
    del config["word_orders"]
    assert FeatureConfig.from_json(config).word_orders == ()


def test_model_directory_loads_as_its_own_kind(ngram_dir: Path) -> None:
    assert model_kind(ngram_dir) == "ngram"
    config = json.loads((ngram_dir / "config.json").read_text())
    assert config["model_type"] == "char_ngram" and config["text_normalization"] == "gateway"
    assert (ngram_dir / "pinyin.txt").is_file()
    net, featurizer, _ = ngram.load(ngram_dir)
    assert net.embedding.weight.dtype == torch.float32  # int8 on disk, fp32 in memory
    assert featurizer.config.buckets == 4096


def test_int8_storage_stays_close_to_the_trained_weights(
    tmp_path: Path, pinyin: PinyinTable
) -> None:
    torch.manual_seed(3)
    net = ngram.NgramNet(512, 8, 8, 2)
    ngram.save(tmp_path, net, FeatureConfig(buckets=512), pinyin, ["A1.04", "X2"])
    loaded, _, _ = ngram.load(tmp_path)
    diff = (loaded.embedding.weight - net.embedding.weight).abs().max().item()
    assert diff <= net.embedding.weight.abs().max().item() / 127 + 1e-6
    assert torch.equal(loaded.out.weight, net.out.weight)


def load(path: Path) -> LocalClassifier:
    clf = models.load_classifier(str(path), device="cpu", cache_size=0)
    assert isinstance(clf, LocalClassifier)
    return clf


async def test_scores_through_the_batcher_equal_one_at_a_time(ngram_dir: Path) -> None:
    clf = load(ngram_dir)
    assert clf.info()["kind"] == "ngram" and clf.info()["dtype"] == "float32"
    texts = ["短", "a somewhat longer english sentence here", "中等长度的中文句子。" * 3, ""]
    together = await clf.classify(texts, direction="input")
    for text, expected in zip(texts, together, strict=True):
        assert set(expected) == {"A1.04", "A2.05", "A4.05"}
        [alone] = clf.adapter.run(clf.adapter.encode("[IN] " + text.lower()))
        assert isinstance(alone, dict)
        assert all(math.isclose(alone[c], v, abs_tol=1e-4) for c, v in expected.items())
    await clf.aclose()


async def test_directions_reach_the_model_and_text_is_normalized(ngram_dir: Path) -> None:
    clf = load(ngram_dir)
    assert clf.adapter.direction_markers == {"input": "[IN]", "output": "[OUT]"}
    assert clf.adapter.normalizes_text
    text = "河南人都是骗子"
    as_input, as_output, unmarked = [
        (await clf.classify([text], direction=d))[0] for d in ("input", "output", None)
    ]
    assert as_input != as_output and as_input != unmarked
    plain, evasive = await clf.classify(
        ["河南人都是骗子", "河 南 人 都 是 騙 子"], direction="input"
    )
    assert plain == evasive
    await clf.aclose()


async def test_long_text_scores_the_max_over_its_windows(ngram_dir: Path) -> None:
    clf = load(ngram_dir)
    text = "".join(chr(0x4E00 + (i * 37) % 300) for i in range(700))
    rows = clf.adapter.encode("[OUT] " + text)
    assert len(rows) == 4  # 256-character windows, overlap 64
    per_window = clf.adapter.run(rows)
    [scores] = await clf.classify([text], direction="output")
    for code, v in scores.items():
        assert math.isclose(
            v, max(w[code] for w in per_window if isinstance(w, dict)), abs_tol=1e-4
        )
    await clf.aclose()


def test_feature_ids_are_pinned(pinyin: PinyinTable) -> None:
    """Shipped weights are indexed by these ids: a change to the hashing or the pinyin table
    must come with a retrained model, never silently."""
    ids = Featurizer(FeatureConfig(), pinyin).ids("炸弹 ok").tolist()
    assert ids == [
        518405, 427055, 315502, 67967, 77514, 512179, 300433, 359762,
        427828, 80987, 81318, 194006, 348510, 214080, 286932, 301499,
    ]  # fmt: skip
    # The shipped model adds latin word n-grams (crc32 of each word, then pairs) after them.
    words = Featurizer(FeatureConfig(word_orders=(1, 2)), pinyin)
    assert words.ids("炸弹 ok").tolist() == [*ids, 25859]
    assert words.ids("make a bomb").tolist()[-5:] == [203310, 365367, 163050, 156348, 256991]
    # Layout alone (list numbers, table rules, spaces) has no features.
    assert len(Featurizer(FeatureConfig(), pinyin).ids("1. 2. | --- |\n  ")) == 0
