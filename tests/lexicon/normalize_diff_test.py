"""Normalization is unchanged by the speed work: text AND offsets equal the frozen
pre-change implementation (tests/lexicon/normalize_v1.py) on random and on real texts.

A classifier is trained on ``normalize(text).text``; these tests fail on any difference.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.lexicon.normalize import DEFAULT_CONFIG, NormalizeConfig, SegmentOffsets, normalize
from models.training.paths import shared_datasets
from tests.lexicon import normalize_v1 as v1

DATA = shared_datasets()


def _same(text: str, config: NormalizeConfig = DEFAULT_CONFIG) -> None:
    new = normalize(text, config)
    old = v1.normalize(text, v1.NormalizeConfig(**_fields(config)))
    assert new.text == old.text, text
    assert tuple(new.offsets) == tuple(old.offsets), text
    assert len(new.offsets) == len(old.offsets)
    # Where nothing moved, offsets are still a range (no memory per char).
    assert isinstance(new.offsets, range) == isinstance(old.offsets, range), text


def _fields(config: NormalizeConfig) -> dict[str, bool]:
    return {name: getattr(config, name) for name in NormalizeConfig.__dataclass_fields__}


# Chars that exercise every rule: CJK, traditional, full-width, separators and runs,
# clause punctuation, zero-width, marks (enclosing, kana voicing), expansions, Hangul jamo,
# astral chars, a lone surrogate, the kept ellipsis, Latin.
_ALPHABET = st.sampled_from(
    [
        *"炸弹彈製作教我好的ab ZＺ１*.，。！？：；（）、\n\t\r「」《》-_~",
        "      ",
        "\u20dd",
        "\u200b",
        "\u200d",
        "\ufeff",
        "\u0301",
        "\u3099",
        "\u3000",
        "😀",
        "💣",
        "㈱",
        "ß",
        "ﬁ",
        "\u1100",
        "\u1161",
        "\u11a8",
        "가",
        "か",
        "…",
        "‥",
        "𠀀",
        "\ud800",
        "Ａ",
        "①",
    ]
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_same_as_before_on_rule_heavy_text(text: str) -> None:
    _same(text)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_same_as_before_on_any_text(text: str) -> None:
    _same(text)


# Each config builds its own tables (about a second), so a few that switch rules off.
_CONFIGS = [
    NormalizeConfig(strip_separators_between_cjk=False),
    NormalizeConfig(nfkc=False, strip_marks=False),
    NormalizeConfig(casefold=False, traditional_to_simplified=False, strip_zero_width=False),
    NormalizeConfig(*[False] * 7),
]


@pytest.mark.parametrize("config", _CONFIGS)
@settings(max_examples=150, deadline=None)
@given(text=st.lists(_ALPHABET, max_size=30).map("".join))
def test_same_as_before_with_rules_off(config: NormalizeConfig, text: str) -> None:
    _same(text, config)


def _real_texts() -> Iterator[str]:
    """Chinese social media (COLD, SWSR), long Wikipedia paragraphs (CMRC 2018) and
    prompts in ten languages and scripts (MultiJail), read at run time."""
    rng = random.Random(15)
    with (DATA / "COLD" / "COLDataset" / "train.csv").open(encoding="utf-8-sig") as f:
        cold = [row["TEXT"] for row in csv.DictReader(f)]
    with (DATA / "SWSR" / "SWSR" / "SexComment.csv").open(encoding="utf-8-sig") as f:
        swsr = [row["comment_text"] for row in csv.DictReader(f)]
    with (DATA / "CMRC2018" / "squad-style-data" / "cmrc2018_dev.json").open() as f:
        cmrc = [p["context"] for d in json.load(f)["data"] for p in d["paragraphs"]]
    with (DATA / "MultiJail" / "data" / "MultiJail.csv").open(encoding="utf-8-sig") as f:
        langs = ("en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv")
        multijail = [row[lang] for row in csv.DictReader(f) for lang in langs]
    for texts, n in ((cold, 4000), (swsr, 2000), (cmrc, 500), (multijail, 3150)):
        sample = rng.sample(texts, min(n, len(texts)))
        yield from sample
        # Several texts as one, line breaks between: runs across lines, longer texts.
        for i in range(0, len(sample) - 4, 5):
            yield "\n".join(sample[i : i + 5])


def test_same_as_before_on_real_texts() -> None:
    count = 0
    for text in _real_texts():
        _same(text)
        count += 1
    assert count > 10_000


@pytest.mark.parametrize(
    "text",
    ["炸，弹好。的", "好 " * 50, "a，好。。b好\n好", "好，ok，好，的"],
)
def test_cut_offsets_read_like_a_tuple(text: str) -> None:
    norm = normalize(text)
    expected = tuple(v1.normalize(text).offsets)
    offsets = norm.offsets
    assert isinstance(offsets, SegmentOffsets)
    assert list(offsets) == list(expected)
    assert [offsets[i] for i in range(len(offsets))] == list(expected)
    assert offsets[-1] == len(text) and offsets[-len(offsets)] == expected[0]
    assert offsets[1:-1] == expected[1:-1] and offsets[::3] == expected[::3]
    with pytest.raises(IndexError):
        offsets[len(offsets)]
    with pytest.raises(IndexError):
        offsets[-len(offsets) - 1]


def test_cut_offsets_are_lazy_segments() -> None:
    # A cut text keeps its offsets as segments (no per-char list) until something reads
    # them all, even when it is long.
    norm = normalize("好，的" * 100_000)
    assert isinstance(norm.offsets, SegmentOffsets)
    assert len(norm.offsets) == 200_001
    assert norm.offsets[2] == 3 and norm.offsets[200_000] == 300_000
