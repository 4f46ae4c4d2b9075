"""Which language a request is in, for the refusal text and per-language model rules."""

from __future__ import annotations


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def has_han(text: str) -> bool:
    """``text`` holds at least one Chinese character."""
    return any(_is_cjk(ch) for ch in text)


def han_count(text: str) -> int:
    """How many Chinese characters ``text`` holds."""
    return sum(1 for ch in text if _is_cjk(ch))


def detect_language(texts: list[str], default: str = "zh") -> str:
    """``zh`` or ``en``, judged from the last text the user wrote."""
    for text in reversed(texts):
        sample = text[-400:]
        cjk = sum(1 for ch in sample if _is_cjk(ch))
        latin = sum(1 for ch in sample if ch.isascii() and ch.isalpha())
        if cjk or latin:
            return "zh" if cjk * 3 >= latin else "en"
    return default


def script_language(texts: list[str], sample: int = 2000) -> str:
    """The dominant script of ``texts`` as a language code a model can be validated for:
    ``zh`` (Han), ``ja`` (kana), ``ko`` (Hangul), ``en`` (Latin letters, English or not),
    ``ru`` (Cyrillic), ``ar`` (Arabic), ``other``; ``none`` without any letter (numbers,
    code symbols, emoji). Chinese with English words is ``zh``."""
    counts = {"zh": 0, "ja": 0, "ko": 0, "en": 0, "ru": 0, "ar": 0, "other": 0}
    budget = sample
    for text in texts:
        for ch in text[:budget]:
            cp = ord(ch)
            if cp < 0x80:
                if ch.isalpha():
                    counts["en"] += 1
            elif _is_cjk(ch):
                counts["zh"] += 1
            elif 0x3040 <= cp <= 0x30FF:
                counts["ja"] += 1
            elif 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF:
                counts["ko"] += 1
            elif 0x00C0 <= cp <= 0x024F:
                counts["en"] += 1
            elif 0x0400 <= cp <= 0x04FF:
                counts["ru"] += 1
            elif 0x0600 <= cp <= 0x06FF:
                counts["ar"] += 1
            elif ch.isalpha():
                counts["other"] += 1
        budget -= len(text)
        if budget <= 0:
            break
    if counts["ja"] and counts["ja"] * 5 >= counts["zh"]:
        return "ja"  # kana among Han is Japanese
    if counts["zh"] and counts["zh"] * 3 >= counts["en"]:
        return "zh"
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else "none"
