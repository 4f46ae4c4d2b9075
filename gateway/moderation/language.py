"""Which language a request is in, for the refusal text and per-language model rules."""

from __future__ import annotations


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def detect_language(texts: list[str], default: str = "zh") -> str:
    """``zh`` or ``en``, judged from the last text the user wrote."""
    for text in reversed(texts):
        sample = text[-400:]
        cjk = sum(1 for ch in sample if _is_cjk(ch))
        latin = sum(1 for ch in sample if ch.isascii() and ch.isalpha())
        if cjk or latin:
            return "zh" if cjk * 3 >= latin else "en"
    return default
