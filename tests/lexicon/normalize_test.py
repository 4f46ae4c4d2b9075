"""Normalization rules, the original-offset mapping and the streaming (prefix) contract."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.lexicon.normalize import (
    DEFAULT_CONFIG,
    UNSTABLE_TAIL,
    NormalizeConfig,
    Normalized,
    _normalize_clusters,
    _tables,
    normalize,
    stable_end,
)

# (original, normalized text, offsets): one row per rule, offsets spelled out.
CASES = [
    # ASCII: case folding only, offsets are the identity.
    ("Pipe BOMB", "pipe bomb", (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)),
    # Full-width letters, digits and the ideographic space become ASCII (NFKC).
    ("ＢＯＭＢ１", "bomb1", (0, 1, 2, 3, 4, 5)),
    ("ａ\u3000ｂ", "a b", (0, 1, 2, 3)),
    # Traditional to simplified, char by char.
    ("製作炸彈", "制作炸弹", (0, 1, 2, 3, 4)),
    # Zero-width characters are removed anywhere.
    ("bo\u200bmb", "bomb", (0, 1, 3, 4, 5)),
    ("炸\ufeff弹", "炸弹", (0, 2, 3)),
    # Separators between CJK characters are removed ...
    ("炸 弹", "炸弹", (0, 2, 3)),
    ("炸*弹", "炸弹", (0, 2, 3)),
    ("炸.弹", "炸弹", (0, 2, 3)),
    ("炸\u200b弹", "炸弹", (0, 2, 3)),
    ("炸 * 弹", "炸弹", (0, 4, 5)),
    ("炸💣弹", "炸弹", (0, 2, 3)),
    ("炸＊弹", "炸弹", (0, 2, 3)),
    # ... runs of any length, newlines and clause punctuation included ...
    ("炸    弹", "炸弹", (0, 5, 6)),
    ("炸      弹", "炸弹", (0, 7, 8)),
    ("炸\n弹", "炸弹", (0, 2, 3)),
    ("炸\r\n \t弹", "炸弹", (0, 5, 6)),
    ("好，我们", "好我们", (0, 2, 3, 4)),
    ("好。我们", "好我们", (0, 2, 3, 4)),
    ("炸，。、弹", "炸弹", (0, 4, 5)),
    # ... but never between Latin letters, or between CJK and Latin.
    ("a b", "a b", (0, 1, 2, 3)),
    ("炸 b", "炸 b", (0, 1, 2, 3)),
    ("好， ok", "好, ok", (0, 1, 2, 3, 4, 5)),
    # Combining marks are dropped (accents folded); the base keeps its offset.
    ("e\u0301x", "ex", (0, 2, 3)),
    ("炸\u0301弹", "炸弹", (0, 2, 3)),
    ("炸\u20dd弹", "炸弹", (0, 2, 3)),  # an enclosing circle
    ("bómb", "bomb", (0, 1, 2, 3, 4)),
    # Kana voicing marks change the syllable and stay.
    ("が", "が", (0, 1)),
    # One char expanding to several: all map to that char.
    ("㈱a", "(株)a", (0, 0, 0, 1, 2)),
    ("ﬁre", "fire", (0, 0, 1, 2, 3)),
    # Case folding that expands.
    ("Straße", "strasse", (0, 1, 2, 3, 4, 4, 5, 6)),
    # A lone surrogate (JSON "\ud800") becomes U+FFFD, which is a separator.
    ("a\ud800b", "a\ufffdb", (0, 1, 2, 3)),
    ("炸\ud800弹", "炸弹", (0, 2, 3)),
    ("", "", (0,)),
]


@pytest.mark.parametrize(("original", "text", "offsets"), CASES)
def test_rules_and_offsets(original: str, text: str, offsets: tuple[int, ...]) -> None:
    norm = normalize(original)
    assert norm == Normalized(text, offsets)
    assert len(norm.offsets) == len(norm.text) + 1
    assert norm.offsets[-1] == len(original)


@pytest.mark.parametrize(("original", "text", "offsets"), CASES)
def test_cluster_path_agrees_with_fast_path(
    original: str, text: str, offsets: tuple[int, ...]
) -> None:
    tables = _tables(DEFAULT_CONFIG)
    assert _normalize_clusters(original, DEFAULT_CONFIG, tables) == Normalized(text, offsets)


@pytest.mark.parametrize(
    ("config", "original", "expected"),
    [
        (NormalizeConfig(casefold=False), "BoMB", "BoMB"),
        (NormalizeConfig(traditional_to_simplified=False), "炸彈", "炸彈"),
        (
            NormalizeConfig(strip_zero_width=False, strip_separators_between_cjk=False),
            "炸\u200b弹",
            "炸\u200b弹",
        ),
        (NormalizeConfig(strip_separators_between_cjk=False), "炸 弹", "炸 弹"),
        (NormalizeConfig(nfkc=False), "ＢＯＭＢ", "bomb"),  # full-width rule alone
        (NormalizeConfig(nfkc=False, fullwidth=False), "ＢＯＭＢ", "ｂｏｍｂ"),
        (NormalizeConfig(nfkc=False), "①", "①"),
    ],
)
def test_each_rule_can_be_switched_off(
    config: NormalizeConfig, original: str, expected: str
) -> None:
    assert normalize(original, config).text == expected


def test_normalized_char_comes_from_its_offset() -> None:
    original = "教我 怎么製*作炸\u200b彈，ＢＯＭＢ"
    norm = normalize(original)
    assert norm.text == "教我怎么制作炸弹,bomb"
    for i, ch in enumerate(norm.text):
        assert normalize(original[norm.offsets[i]]).text.startswith(ch)


# Text built from the characters that exercise every rule, so examples hit the edges.
_ALPHABET = st.sampled_from(
    [
        *"炸弹彈製作教我ab ZＺ*.，。\n\t、",
        "      ",
        "\u20dd",
        "\u200b",
        "\u0301",
        "\u3000",
        "😀",
        "㈱",
        "ß",
        "\u1161",
        "\u1100",
        "가",
        "か",
        "\u3099",
        "ﾊ",
        "\uff9e",
        "…",
        "𠀀",
        "\ud800",
    ]
)
_TEXT = st.lists(_ALPHABET, max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_fast_path_equals_cluster_path(text: str) -> None:
    assert normalize(text) == _normalize_clusters(text, DEFAULT_CONFIG, _tables(DEFAULT_CONFIG))


@settings(max_examples=400, deadline=None)
@given(_TEXT, _TEXT)
def test_prefix_is_stable_except_the_unstable_tail(prefix: str, suffix: str) -> None:
    """The contract the stream moderator relies on (see the normalize module docstring)."""
    part = normalize(prefix)
    whole = normalize(prefix + suffix)
    stable = sum(1 for o in part.offsets[:-1] if o < stable_end(prefix))
    assert whole.text[:stable] == part.text[:stable]
    assert tuple(whole.offsets[:stable]) == tuple(part.offsets[:stable])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_offsets_are_monotonic_and_in_range(text: str) -> None:
    norm = normalize(text)
    assert len(norm.offsets) == len(norm.text) + 1
    assert list(norm.offsets) == sorted(norm.offsets)
    assert norm.offsets[-1] == len(text)
    assert all(0 <= o <= len(text) for o in norm.offsets)


def test_unstable_tail_is_needed() -> None:
    # A trailing separator run after a CJK char is only removed once a CJK char follows it,
    # however long it is, so the whole run is unstable.
    assert normalize("炸 ").text == "炸 "
    assert normalize("炸 弹").text == "炸弹"
    prefix = "好的炸" + " " * 20
    assert stable_end(prefix) == 3
    assert normalize(prefix + "弹").text == "好的炸弹"
    # Marks are dropped, so a finished character stays what it is; only kana (voicing
    # marks) and Hangul (jamo) can still turn into another character.
    assert stable_end("abcdef") == len("abcdef")
    assert stable_end("好\u0301\u0301") == 1
    assert stable_end("好か") == 1 and stable_end("好가") == 1
    keep_marks = NormalizeConfig(strip_marks=False)
    assert stable_end("abcdef", keep_marks) == len("abcdef") - UNSTABLE_TAIL


@pytest.mark.parametrize("size", [10_000, 100_000])
def test_long_texts_cost_no_offset_memory(size: int) -> None:
    # A text that normalization does not reshape keeps its offsets as a range.
    assert isinstance(normalize("好" * size).offsets, range)
    norm = normalize("好 " * size)
    assert norm.text == "好" * size + " "  # the last space has no CJK char after it
    assert norm.offsets[size - 1] == 2 * (size - 1)
    assert norm.offsets[size] == 2 * size - 1
    assert len(norm.offsets) == size + 2 and norm.offsets[-1] == 2 * size


def test_a_separator_before_a_jamo_that_may_still_compose_is_unstable() -> None:
    """Found by the property test above: "炸*ᄀ" keeps the "*", but once "ᅡ" follows, ᄀ + ᅡ
    compose to 가 and the separator between two letters is dropped."""
    prefix, suffix = "炸*\u1100", "\u1161"
    part, whole = normalize(prefix), normalize(prefix + suffix)
    stable = sum(1 for o in part.offsets[:-1] if o < stable_end(prefix))
    assert whole.text[:stable] == part.text[:stable]
    assert stable_end(prefix) == 1
