"""Evasion-style variants of a text: homophones, pinyin, traditional characters, inserted
symbols and spaces, emoji. Used for the robustness report and as training rows.

Homophones come first from the gateway's own table (``gateway.lexicon.variants``: the
substitutions its lexicon expands, 色 -> 涩, 赌 -> 堵 ...), then from characters with the same
toneless pinyin; pinyin is pypinyin's, as the gateway's variant code writes it. The model
sees every variant after the gateway's normalization (``example.with_direction``), so
traditional characters, separators and emoji mostly reach it as the plain text, exactly as
in production. All variants are seeded (``random.Random``) so a report can be reproduced.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

import opencc
from pypinyin import lazy_pinyin

from gateway.lexicon.variants import DEFAULT_HOMOPHONES

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
        return "".join(self._sound_alike(c, rng) if self._touch(rng) else c for c in text)

    def _sound_alike(self, ch: str, rng: random.Random) -> str:
        gateway = DEFAULT_HOMOPHONES.get(ch)
        if gateway and (ch not in self._homo or rng.random() < 0.5):
            return rng.choice(gateway)
        return rng.choice(self._homo[ch]) if ch in self._homo else ch

    def pinyin(self, text: str, rng: random.Random) -> str:
        return "".join(lazy_pinyin(c)[0] if _is_han(c) and self._touch(rng) else c for c in text)

    def traditional(self, text: str, rng: random.Random) -> str:
        return str(_S2T.convert(text))

    def symbols(self, text: str, rng: random.Random) -> str:
        return "".join(c + rng.choice(_SYMBOLS) if self._touch(rng) else c for c in text)

    def emoji(self, text: str, rng: random.Random) -> str:
        return "".join(c + rng.choice(_EMOJI) if self._touch(rng) else c for c in text)

    def any(self, text: str, rng: random.Random) -> str:
        """One randomly chosen variant."""
        return self.variants[rng.choice(sorted(self.variants))](text, rng)

    # Training mix: normalization undoes most traditional, separator and emoji variants, so
    # homophones and pinyin, which reach the model, get most of the rows.
    _EVASION_NAMES = ("homophone", "pinyin", "traditional", "symbols", "emoji")
    _EVASION_WEIGHTS = (4.0, 3.0, 1.0, 1.0, 1.0)

    def evasion(self, text: str, rng: random.Random) -> str:
        """One variant drawn by the training mix above."""
        name = rng.choices(self._EVASION_NAMES, self._EVASION_WEIGHTS)[0]
        return self.variants[name](text, rng)
