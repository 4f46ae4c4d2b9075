"""Evasion-style variants of a text: homophones, pinyin, traditional characters, inserted
symbols and spaces, emoji. Used for the robustness report and, lightly, as augmentation.

All variants are seeded (``random.Random``) so a report can be reproduced.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

import opencc
from pypinyin import lazy_pinyin

_S2T = opencc.OpenCC("s2t")
_SYMBOLS = ("*", " ", "·", "_", "-", "/", ".", "~")
_EMOJI = ("😀", "😂", "🔥", "👍", "🐶", "💩", "🤬", "❤️", "🙏", "🌸")

Variant = Callable[[str, random.Random], str]


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


class Perturber:
    """Builds the homophone table once from a character set (most common first), then makes
    variants. ``rate`` is the share of characters touched."""

    def __init__(self, charset: Iterable[str], rate: float = 0.3) -> None:
        self.rate = rate
        self._homo: dict[str, list[str]] = {}
        by_sound: dict[str, list[str]] = {}
        for ch in charset:
            if _is_han(ch):
                by_sound.setdefault(lazy_pinyin(ch)[0], []).append(ch)
        for chars in by_sound.values():
            for ch in chars:
                others = [c for c in chars[:12] if c != ch]
                if others:
                    self._homo[ch] = others
        self.variants: dict[str, Variant] = {
            "homophone": self.homophone,
            "pinyin": self.pinyin,
            "traditional": self.traditional,
            "symbols": self.symbols,
            "emoji": self.emoji,
        }

    def _touch(self, rng: random.Random) -> bool:
        return rng.random() < self.rate

    def homophone(self, text: str, rng: random.Random) -> str:
        return "".join(
            rng.choice(self._homo[c]) if c in self._homo and self._touch(rng) else c for c in text
        )

    def pinyin(self, text: str, rng: random.Random) -> str:
        return "".join(lazy_pinyin(c)[0] if _is_han(c) and self._touch(rng) else c for c in text)

    def traditional(self, text: str, rng: random.Random) -> str:
        return str(_S2T.convert(text))

    def symbols(self, text: str, rng: random.Random) -> str:
        return "".join(c + rng.choice(_SYMBOLS) if self._touch(rng) else c for c in text)

    def emoji(self, text: str, rng: random.Random) -> str:
        return "".join(c + rng.choice(_EMOJI) if self._touch(rng) else c for c in text)

    def any(self, text: str, rng: random.Random) -> str:
        """One randomly chosen variant (for augmentation)."""
        return self.variants[rng.choice(sorted(self.variants))](text, rng)
