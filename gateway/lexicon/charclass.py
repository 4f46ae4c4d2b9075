"""Character classes and per-character tables that normalization is built from.

Everything here is computed once per process (``functools.cache``) and is pure data:
translate tables for ``str.translate`` and compiled regexes. Keeping the tables apart from
the normalization algorithm lets ``normalize.py`` read as the algorithm alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from importlib import resources

# Characters that render as nothing and are used to split a word invisibly. U+00AD soft
# hyphen and U+034F combining grapheme joiner are included because they are invisible too.
ZERO_WIDTH: frozenset[str] = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f"
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f"
    "\u3164\ufeff\uffa0"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))  # variation selectors
    + "".join(chr(c) for c in range(0xE0000, 0xE0080))  # tag characters
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))  # variation selectors supplement
)

# Code point ranges holding CJK "word" characters (Han, kana, Hangul syllables). Separators
# are stripped only between two of these, never between Latin letters or digits.
_CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x309F),  # hiragana
    (0x30A0, 0x30FA),  # katakana (30FB, the middle dot, is punctuation)
    (0x30FC, 0x30FF),
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


# Unicode category prefixes that count as separators: spaces, punctuation, symbols (emoji
# included) and control characters such as newline and tab.
_SEPARATOR_CATEGORY_PREFIXES = ("Z", "P", "S", "Cc")


def is_cjk(ch: str) -> bool:
    """True for a Han, kana or Hangul syllable character."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def is_separator(ch: str) -> bool:
    """True for whitespace, punctuation, symbols and control characters."""
    return unicodedata.category(ch).startswith(_SEPARATOR_CATEGORY_PREFIXES)


def extends_cluster(ch: str) -> bool:
    """True for a character that NFKC may merge into the character before it.

    Combining marks (Mn, Mc, Me) and conjoining Hangul vowel/final jamo compose with a
    preceding base, so normalization treats base + marks as one unit (a cluster).
    """
    cp = ord(ch)
    if 0x1160 <= cp <= 0x11FF or 0xD7B0 <= cp <= 0xD7FF:
        return True
    return unicodedata.category(ch) in ("Mn", "Mc", "Me")


@cache
def t2s_table() -> dict[int, int]:
    """Traditional -> simplified for single characters, from OpenCC's TSCharacters.txt.

    OpenCC's converter is slow (pure Python, phrase segmentation); for matching, the
    first single-character candidate is enough, applied with ``str.translate``.
    """
    path = resources.files("opencc").joinpath("dictionary/TSCharacters.txt")
    table: dict[int, int] = {}
    for line in path.read_text("utf-8").splitlines():
        src, _, dst = line.partition("\t")
        first = dst.split(" ")[0] if dst else ""
        if len(src) == 1 and len(first) == 1 and src != first:
            table[ord(src)] = ord(first)
    return table


def char_class(codepoints: Iterable[int]) -> str:
    """A regex character class body for a set of code points, compressed into ranges."""
    parts: list[str] = []
    run_start = run_end = -2
    for cp in sorted(codepoints):
        if cp == run_end + 1:
            run_end = cp
            continue
        if run_start >= 0:
            parts.append(_range(run_start, run_end))
        run_start = run_end = cp
    if run_start >= 0:
        parts.append(_range(run_start, run_end))
    return "".join(parts)


def _range(lo: int, hi: int) -> str:
    esc = re.escape
    return esc(chr(lo)) if lo == hi else f"{esc(chr(lo))}-{esc(chr(hi))}"
