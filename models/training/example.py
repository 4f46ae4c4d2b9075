"""One labeled training row and the text key used to deduplicate rows across datasets."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from gateway.lexicon.normalize import normalize

Direction = Literal["in", "out"]
Split = Literal["train", "val", "test"]
Lang = Literal["zh", "en", "mixed"]

# Direction markers the model sees in front of the text. They are special tokens in the
# vocabulary, so a single id encodes whether the text is a user prompt or a model response.
DIRECTION_TOKENS: dict[str, str] = {"in": "[IN]", "out": "[OUT]"}

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass(slots=True)
class Example:
    """A text with its taxonomy codes (empty = benign) and where it came from.

    ``group`` ties together rows that must land in the same split (a JailBench seed and its
    20 jailbreak wrappings, a MultiJail item in zh and en, a JADE question and its answers).
    """

    text: str
    direction: Direction
    codes: frozenset[str]
    source: str
    group: str
    split: Split | None = None
    tags: frozenset[str] = field(default_factory=frozenset)
    lang: Lang | None = None  # detected from the text when not given

    def __post_init__(self) -> None:
        if self.lang is None:
            self.lang = detect_lang(self.text)

    @property
    def positive(self) -> bool:
        return bool(self.codes)


def detect_lang(text: str) -> Lang:
    """``zh`` for Chinese, ``en`` for text without Chinese characters, ``mixed`` for Chinese
    with at least one latin word (``怎么把 PDF 转成 Word？``): the per-language reports group
    rows this way, and the written data files use the same three values."""
    if _HAN.search(text) is None:
        return "en"
    return "mixed" if _LATIN_WORD.search(text) else "zh"


def dedup_key(text: str) -> str:
    """NFKC, lower-case, punctuation and spaces removed: two rows with the same key are the
    same text for deduplication and leakage checks."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


def with_direction(text: str, direction: str | None) -> str:
    """The model input: the direction marker, a space, the text normalized as the gateway
    normalizes it (no marker when None).

    The gateway normalizes text before the model (``config.text_normalization``), so the
    model trains on the same form: traditional characters, full-width letters and symbols
    inserted between Chinese characters then cost it nothing."""
    text = normalize(text).text
    if direction is None:
        return text
    return f"{DIRECTION_TOKENS[direction]} {text}"
