"""Evasion variants of a term: full pinyin and common homophone substitutions.

Variants are expanded on the *term* side, once, when a :class:`~gateway.lexicon.matcher.Matcher`
is built; the text is never rewritten to pinyin. A variant reports the original term, with
its category and level, so ``zhadan`` and ``炸蛋`` both report ``炸弹``.

Why term-side: rewriting every incoming text to pinyin would cost a dictionary lookup per
character on the hot path and lose the 1:1 offset mapping; expanding terms costs a few
extra automaton states per term, paid once at load.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from gateway.lexicon import charclass

# Substitutions seen in evasive Chinese text: the key character is written as any of the
# listed characters of the same or a close sound. Kept small on purpose: every entry
# multiplies the patterns of every term containing it, and a benign homophone (炸蛋 is a
# fried egg, so 弹 -> 蛋 is NOT listed) would turn into a false positive.
DEFAULT_HOMOPHONES: Mapping[str, str] = MappingProxyType(
    {
        "色": "涩瑟",  # 色情 -> 涩情, 色图 -> 涩图
        "情": "晴",
        "赌": "堵睹",
        "博": "搏",
        "嫖": "瞟",
        "娼": "昌",
        "炮": "泡",  # 约炮 -> 约泡
        "枪": "抢",
        "毒": "独",
        "操": "草艹肏",
        "屌": "吊",
        "逼": "比屄",
        "婊": "表",
        "妈": "马",
        "杀": "刹",
        "淫": "银",
        "裸": "倮",
        "奸": "坚",
        "诈": "炸",
        "骗": "片",
    }
)


# Letter-spaced forms are added for single words of this many letters: shorter ones
# ("k y s") are too likely in ordinary spaced-out text, longer ones are rarely spelled out.
_SPELLED_MIN, _SPELLED_MAX = 4, 12
_LETTER_SEPARATORS = (" ", ".", "-", "*")


@dataclass(frozen=True, slots=True)
class VariantConfig:
    """Which variants to add for each term.

    ``pinyin``: add the full pinyin of an all-Han term, joined (``zhadan``) and spaced
    (``zha dan``), when the joined form has at least ``min_pinyin_len`` letters; short
    pinyin (``dubo``) collides with names and English words, so it is skipped.
    ``homophones``: substitute characters from ``homophone_table`` (every combination, at
    most ``max_variants_per_term`` per term).
    ``mixed_pinyin``: also write some characters of a Han term of at most
    ``mixed_max_len`` chars in pinyin (``炸dan``, ``zha弹``). Off by default: a 2-4 char term
    gets 2-14 more patterns, which multiplies the automaton of a large library.
    """

    pinyin: bool = True
    min_pinyin_len: int = 6
    homophones: bool = True
    homophone_table: Mapping[str, str] = field(default_factory=lambda: DEFAULT_HOMOPHONES)
    max_variants_per_term: int = 32
    # "pipe bomb" also as "pipe-bomb" and "pipebomb"; "porn" also as "p o r n", "p.o.r.n" …
    latin_separators: bool = True
    mixed_pinyin: bool = False
    mixed_max_len: int = 4


def expand(term: str, config: VariantConfig) -> Iterator[str]:
    """Variants of an already *normalized* term, excluding the term itself.

    Variants are produced in a fixed order and capped at ``max_variants_per_term``, so a
    library loads the same automaton every time.
    """
    seen = {term}
    count = 0
    for variant in _candidates(term, config):
        if variant in seen:
            continue
        seen.add(variant)
        yield variant
        count += 1
        if count >= config.max_variants_per_term:
            return


def _candidates(term: str, config: VariantConfig) -> Iterator[str]:
    all_han = bool(term) and all(charclass.is_cjk(c) for c in term)
    syllables = _pinyin(term) if all_han and (config.pinyin or config.mixed_pinyin) else ()
    plain = len(syllables) == len(term) and all(s.isascii() and s.isalpha() for s in syllables)
    if config.pinyin and plain:
        joined = "".join(syllables)
        if len(joined) >= config.min_pinyin_len:
            yield joined
            yield " ".join(syllables)
    if config.homophones:
        yield from _homophones(term, config.homophone_table)
    if config.mixed_pinyin and plain and 2 <= len(term) <= config.mixed_max_len:
        yield from _mixed(term, syllables)
    if config.latin_separators and term.isascii():
        if " " in term:
            yield term.replace(" ", "-")
            yield term.replace(" ", "")
        elif term.isalpha() and _SPELLED_MIN <= len(term) <= _SPELLED_MAX:
            # Letter-spaced evasions of one word: "b o m b", "p.o.r.n", "b-o-m-b", "b*o*m*b".
            for sep in _LETTER_SEPARATORS:
                yield sep.join(term)


def _homophones(term: str, table: Mapping[str, str]) -> Iterator[str]:
    options = [ch + table.get(ch, "") for ch in term]
    if all(len(o) == 1 for o in options):
        return
    for combo in itertools.product(*options):
        yield "".join(combo)


def _mixed(term: str, syllables: tuple[str, ...]) -> Iterator[str]:
    # Every way to write some (not all, not none) of the characters in pinyin.
    n = len(term)
    for mask in range(1, (1 << n) - 1):
        yield "".join(syllables[i] if mask >> i & 1 else term[i] for i in range(n))


@lru_cache(maxsize=100_000)
def _pinyin(term: str) -> tuple[str, ...]:
    # pypinyin is most of a matcher build (~150 us a term); cached, so reloading a policy
    # with the same library is quick. Imported here: pypinyin loads large dictionaries
    # (about a second), which only a matcher build with pinyin variants should pay for.
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(term, style=Style.NORMAL))
