"""Features of the character n-gram model: hashed character n-grams and pinyin n-grams.

Pure numpy (no torch), so the training recipe and the adapter share one definition and the
features can be tested on their own. A text becomes one row of feature ids per window:

- ``row[0]`` is the direction code (0 none, 1 prompt ``[IN]``, 2 answer ``[OUT]``), read from
  the marker the classifier puts in front of the text, plus ``SCRIPT_LATIN`` for a text
  without Chinese characters when ``script_codes`` is on (the code modulo 3 is the direction);
- then every character n-gram (``char_orders``, over the whole text, spaces included),
- then every n-gram of the *toneless pinyin* of the Chinese characters (``pinyin_orders``),
- then every n-gram of the latin *words* (``word_orders``; off in models saved without it).

Pinyin n-grams are why homophone evasions cost this model little: ``炸弹``, ``炸蛋``, ``渣弹``
and, in a text that holds Chinese, ``zhadan`` / ``zha dan`` all produce the pinyin bigram
``zha|dan``, so a weight learnt from one spelling applies to every spelling that sounds the
same. Each id is a 64-bit polynomial hash of its code points (or syllable numbers) salted by
kind and order, reduced to ``buckets``; the same text gives the same ids on every machine.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

DIRECTION_CODES = {"[IN]": 1, "[OUT]": 2}
# Added to the direction code of a text with no Chinese character (``script_codes``).
SCRIPT_LATIN = 3
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_MARKER = re.compile(r"^(\[IN\]|\[OUT\]) ?")
_PRIME = 1_000_003
_MIX = np.uint64(0x9E3779B97F4A7C15)
_LATIN_RUN = re.compile(r"[a-z]+")
# Words for word n-grams: latin letters with digits and inner apostrophes (don't, covid19).
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
# Syllable numbers are offset past every code point, so a pinyin n-gram never hashes like a
# character n-gram.
_PINYIN_BASE = 0x110000
# Word hashes (crc32) are offset past every code point and syllable number, for the same reason.
_WORD_BASE = 1 << 33


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    buckets: int = 1 << 19
    char_orders: tuple[int, ...] = (1, 2, 3, 4)
    pinyin_orders: tuple[int, ...] = (1, 2, 3)
    # Character 4-grams see a word's pieces but not which words follow each other ("how to
    # make a", "without getting caught"): English harm is said in such phrases.
    word_orders: tuple[int, ...] = ()
    window_chars: int = 256  # a longer text is scored in windows of this many characters
    window_overlap: int = 64
    # Mark a text without Chinese characters in its direction code (SCRIPT_LATIN), so a model
    # part can treat the two scripts apart (the "any unsafe" head has a threshold each).
    script_codes: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "script_codes": self.script_codes,
            "buckets": self.buckets,
            "char_orders": list(self.char_orders),
            "pinyin_orders": list(self.pinyin_orders),
            "word_orders": list(self.word_orders),
            "window_chars": self.window_chars,
            "window_overlap": self.window_overlap,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> FeatureConfig:
        def ints(key: str) -> tuple[int, ...]:
            value = data[key]
            assert isinstance(value, list)
            return tuple(int(v) for v in value)

        return cls(
            buckets=int(str(data["buckets"])),
            char_orders=ints("char_orders"),
            pinyin_orders=ints("pinyin_orders"),
            word_orders=ints("word_orders") if "word_orders" in data else (),
            window_chars=int(str(data["window_chars"])),
            window_overlap=int(str(data["window_overlap"])),
            script_codes=bool(data.get("script_codes", False)),
        )


class PinyinTable:
    """Toneless pinyin of each BMP Chinese character, as syllable numbers (1-based).

    Stored with the model (``pinyin.txt``: a syllable, a tab, its characters) so a model
    scores the same whatever pypinyin version is installed, and loads offline."""

    def __init__(self, syllables: Sequence[tuple[str, str]]) -> None:
        self.syllables = [s for s, _ in syllables]
        self._by_cp = np.zeros(0x10000, dtype=np.int64)
        for number, (_, chars) in enumerate(syllables, 1):
            for ch in chars:
                if ord(ch) < 0x10000:
                    self._by_cp[ord(ch)] = number
        self._number = {s: i for i, s in enumerate(self.syllables, 1)}
        self._longest = max((len(s) for s in self.syllables), default=0)

    @classmethod
    def build(cls) -> PinyinTable:
        """From pypinyin (training time): each character's most common reading, no tone."""
        from pypinyin import Style, lazy_pinyin

        chars = [chr(c) for c in range(0x3400, 0xA000)]
        # A character without a reading comes back as itself; only latin readings are kept.
        readings = lazy_pinyin(chars, style=Style.NORMAL)
        by_syllable: dict[str, list[str]] = {}
        for ch, py in zip(chars, readings, strict=True):
            if py and py.isascii() and py.isalpha():
                by_syllable.setdefault(py, []).append(ch)
        return cls([(s, "".join(by_syllable[s])) for s in sorted(by_syllable)])

    @classmethod
    def load(cls, path: Path) -> PinyinTable:
        pairs = []
        for line in path.read_text("utf-8").splitlines():
            syllable, _, chars = line.partition("\t")
            pairs.append((syllable, chars))
        return cls(pairs)

    def save(self, path: Path) -> None:
        chars: dict[int, list[str]] = {}
        for cp in np.nonzero(self._by_cp)[0]:
            chars.setdefault(int(self._by_cp[cp]), []).append(chr(int(cp)))
        lines = [f"{s}\t{''.join(chars.get(i, []))}" for i, s in enumerate(self.syllables, 1)]
        path.write_text("\n".join(lines) + "\n", "utf-8")

    def of_codepoints(self, cps: np.ndarray) -> np.ndarray:
        """Syllable number per code point (0 for anything that is not a Chinese character;
        astral code points read as U+FFFF, which has none)."""
        return self._by_cp[np.minimum(cps, 0xFFFF)]  # type: ignore[no-any-return]

    def segment(self, word: str) -> list[int] | None:
        """A latin word read as pinyin syllables (fewest syllables), or None if it is not
        pinyin: ``zhadan`` -> [zha, dan]; ``python`` -> None."""
        n = len(word)
        best: list[list[int] | None] = [None] * (n + 1)
        best[0] = []
        for end in range(1, n + 1):
            for start in range(max(0, end - self._longest), end):
                head = best[start]
                number = self._number.get(word[start:end])
                if head is not None and number is not None:
                    candidate = [*head, number]
                    current = best[end]
                    if current is None or len(candidate) < len(current):
                        best[end] = candidate
        return best[n]

    @cached_property
    def size(self) -> int:
        return len(self.syllables)


def _rolling(seq: np.ndarray, orders: Sequence[int]) -> list[np.ndarray]:
    """Polynomial hashes of every n-gram of ``seq`` for each order in ``orders`` (ascending;
    an order longer than ``seq`` gives an empty array; orders not asked for are computed on
    the way and dropped). int64
    arithmetic wraps, which is what a hash wants; few numpy calls, since on a busy CPU each
    call costs microseconds whatever the array size."""
    out: list[np.ndarray] = []
    h = seq
    for n in range(1, max(orders) + 1):
        if n > 1:  # both sides are empty once n exceeds the length
            h = h[:-1] * _PRIME + seq[n - 1 :]
        if n in orders:
            out.append(h)
    return out


def _letter_table() -> np.ndarray:
    """True for BMP code points that are letters (any script, Chinese included)."""
    import unicodedata

    return np.array(
        [unicodedata.category(chr(c)).startswith("L") for c in range(0x10000)], dtype=bool
    )


_LETTER = _letter_table()


def _any_letter(letters: np.ndarray, n: int) -> np.ndarray:
    """For each n-gram start, whether the n-gram holds a letter (a windowed OR)."""
    counts = np.concatenate(([0], np.cumsum(letters, dtype=np.int64)))
    return np.asarray(counts[n:] - counts[:-n] > 0)


def _word_hashes(text: str) -> np.ndarray:
    """A stable hash per latin word, in text order (crc32: the same on every machine, unlike
    Python's salted ``hash``); empty when the text has none."""
    return np.fromiter(
        (zlib.crc32(m.group().encode()) for m in _WORD.finditer(text)), dtype=np.int64
    )


def _buckets(h: np.ndarray, buckets: int) -> np.ndarray:
    """Reduce raw hashes to bucket ids: a multiplicative hash, keeping the top bits when
    ``buckets`` is a power of two (two numpy calls), else the remainder of a mixed value."""
    u = h.view(np.uint64) * _MIX
    if buckets & (buckets - 1) == 0:
        return (u >> np.uint64(64 - buckets.bit_length() + 1)).view(np.int64)
    u = u ^ (u >> np.uint64(29))
    return (u % np.uint64(buckets)).astype(np.int64)


class Featurizer:
    """Text (with its direction marker, as the classifier builds it) -> rows of feature ids."""

    def __init__(self, config: FeatureConfig, pinyin: PinyinTable) -> None:
        self.config = config
        self.pinyin = pinyin

    def split(self, text: str) -> tuple[int, list[str]]:
        """The direction code and the text's windows (at least one, maybe empty)."""
        m = _MARKER.match(text)
        direction = DIRECTION_CODES[m.group(1)] if m else 0
        body = text[m.end() :] if m else text
        if self.config.script_codes and _HAN.search(body) is None:
            direction += SCRIPT_LATIN
        size, overlap = self.config.window_chars, self.config.window_overlap
        if len(body) <= size:
            return direction, [body]
        # Windows overlap by at least ``overlap``; the last one ends at the text's end and is
        # a full window, so a short tail (e.g. the few characters a stream check adds past
        # the window) is never judged on its own.
        starts = [*range(0, len(body) - size, size - overlap), len(body) - size]
        return direction, [body[s : s + size] for s in starts]

    def rows(self, text: str) -> list[np.ndarray]:
        """One int64 row per window: ``[direction, id, id, ...]``."""
        direction, windows = self.split(text)
        head = np.array([direction], dtype=np.int64)
        return [np.concatenate((head, self.ids(w))) for w in windows]

    def ids(self, text: str) -> np.ndarray:
        """Feature ids of one window (no direction). Character n-grams without a letter
        (digits, punctuation, spaces, symbols only: list numbers, table rules, code
        indentation) are left out: layout says nothing about harm, and a model that learnt
        "numbered list" from risky answers flagged benign lists and tables."""
        cfg = self.config
        if not text:
            return np.zeros(0, dtype=np.int64)
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        parts = _rolling(cps, cfg.char_orders)
        letters = _LETTER[np.minimum(cps, 0xFFFF)]  # astral (emoji, rare Han): not letters
        parts = [h[_any_letter(letters, n)] for h, n in zip(parts, cfg.char_orders, strict=True)]
        syllables = self._syllables(text, cps)
        if len(syllables) and cfg.pinyin_orders:
            parts += _rolling(syllables + _PINYIN_BASE, cfg.pinyin_orders)
        if cfg.word_orders:
            words = _word_hashes(text)
            if len(words):
                parts += _rolling(words + _WORD_BASE, cfg.word_orders)
        return _buckets(np.concatenate(parts), cfg.buckets)

    def _syllables(self, text: str, cps: np.ndarray) -> np.ndarray:
        """Syllable numbers in text order: Chinese characters, and latin words that read as
        pinyin when the text holds Chinese (``制造zhadan`` reads like ``制造炸弹``)."""
        numbers = self.pinyin.of_codepoints(cps)
        han = numbers > 0
        if not han.any():
            return np.zeros(0, dtype=np.int64)
        runs = list(_LATIN_RUN.finditer(text)) if not text.isascii() else []
        if not runs:
            return numbers[han]
        seq: list[int] = []
        pos = 0
        for m in runs:
            seq.extend(numbers[pos : m.start()][han[pos : m.start()]].tolist())
            seq.extend(self.pinyin.segment(m.group()) or [])
            pos = m.end()
        seq.extend(numbers[pos:][han[pos:]].tolist())
        return np.asarray(seq, dtype=np.int64)
