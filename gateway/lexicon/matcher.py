"""Aho-Corasick keyword matching over normalized text, with an allow list.

The automaton is ``ahocorasick_rs`` (Rust). ``pyahocorasick`` was measured first and
dropped: its trie nodes find a child by linear search, and the root of a Chinese library
has thousands of children (one per distinct first character), so a 200-character text
took ~950 us against a 60,000-term library, versus ~15 us here.

A :class:`Matcher` is built once from a keyword library (terms, allow entries, variant
settings) and is then read-only, so one instance can serve every request and thread.
Terms and allow entries are normalized with the same :func:`normalize` as the text, so a
traditional, full-width or spaced-out form in either place still matches.

Semantics:

- every occurrence of every pattern is reported, overlapping ones included (``制作炸弹``
  and ``炸弹`` both fire on ``制作炸弹``); the caller decides what to do with them;
- a pattern that starts (ends) with a Latin letter or digit only matches where the
  character before (after) it is not a Latin letter or digit, so ``ass`` does not fire in
  ``class`` but ``gun`` fires in ``我想买gun``;
- a hit lying inside an occurrence of an allow entry is dropped (allow ``乌鲁木齐`` to keep
  a term ``木齐`` quiet there);
- spans are in the ORIGINAL text.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick_rs

from gateway.lexicon.normalize import DEFAULT_CONFIG, NormalizeConfig, Normalized, normalize
from gateway.lexicon.variants import VariantConfig, expand


@dataclass(frozen=True, slots=True)
class Term:
    """One keyword: its text, taxonomy category code (``A1.04``) and level (1 = lowest)."""

    text: str
    category: str
    level: int = 1


@dataclass(frozen=True, slots=True)
class Hit:
    """A matched term; ``start:end`` is the span in the original text."""

    term: str
    category: str
    level: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Pattern:
    """What one automaton key stands for."""

    length: int  # in normalized chars
    term_ids: tuple[int, ...]  # indexes into Matcher._terms; empty for a pure allow entry
    allow: bool
    left_bounded: bool  # needs a non-word char (or text start) before it
    right_bounded: bool


def _is_word_char(ch: str) -> bool:
    # Latin letters and digits only: CJK is "alnum" to Python but is not a word boundary
    # problem, and English words run straight into Chinese text ("我想买gun").
    return ch.isalnum() and ord(ch) < 0x0250


class Matcher:
    """Finds library terms (and their variants) in text; see the module docstring."""

    def __init__(
        self,
        terms: Iterable[Term],
        allow: Iterable[str] = (),
        config: NormalizeConfig = DEFAULT_CONFIG,
        variants: VariantConfig | None = None,
    ) -> None:
        self._config = config
        self._terms: tuple[Term, ...] = tuple(dict.fromkeys(terms))
        ids_by_key: dict[str, list[int]] = {}
        allow_keys: set[str] = set()
        for entry in allow:
            key = normalize(entry, config).text.strip()
            if key:
                allow_keys.add(key)
        for term_id, term in enumerate(self._terms):
            key = normalize(term.text, config).text.strip()
            if not key:
                continue
            keys = [key]
            if variants is not None:
                # A variant that is itself allow-listed would only be dropped later.
                keys += [v for v in expand(key, variants) if v not in allow_keys]
            for k in keys:
                ids = ids_by_key.setdefault(k, [])
                if term_id not in ids:
                    ids.append(term_id)
        keys = sorted(ids_by_key.keys() | allow_keys)  # sorted: same automaton every load
        self._patterns: tuple[_Pattern, ...] = tuple(
            _Pattern(
                length=len(key),
                term_ids=tuple(ids_by_key.get(key, ())),
                allow=key in allow_keys,
                left_bounded=_is_word_char(key[0]),
                right_bounded=_is_word_char(key[-1]),
            )
            for key in keys
        )
        self._keys: tuple[str, ...] = tuple(keys)
        self._max_len = max((len(k) for k in keys), default=0)
        self._automaton: ahocorasick_rs.AhoCorasick | None = (
            ahocorasick_rs.AhoCorasick(
                keys,
                matchkind=ahocorasick_rs.MatchKind.Standard,
                # Measured fastest for 60k CJK terms (DFA: 1.5x slower, 5x the memory).
                implementation=ahocorasick_rs.Implementation.ContiguousNFA,
            )
            if keys
            else None
        )

    @property
    def max_term_len(self) -> int:
        """Longest pattern (term, variant or allow entry), in normalized chars.

        A streaming caller must keep at least this many normalized chars (plus
        :data:`~gateway.lexicon.normalize.UNSTABLE_TAIL` original chars) of context.
        """
        return self._max_len

    @property
    def config(self) -> NormalizeConfig:
        return self._config

    def __len__(self) -> int:
        return len(self._terms)

    def pending_prefix_len(self, normalized: str) -> int:
        """Length of the longest suffix of ``normalized`` that could still grow into a
        pattern (a proper prefix of some pattern), at most ``max_term_len - 1``.

        A stream moderator may release everything before that suffix: no pattern can end
        in text yet to come and start earlier.
        """
        keys = self._keys
        longest = min(len(normalized), self._max_len - 1)
        for k in range(longest, 0, -1):
            suffix = normalized[-k:]
            # Keys are sorted, so the first key >= suffix starts with it iff any key does.
            i = bisect.bisect_left(keys, suffix)
            if i < len(keys) and keys[i].startswith(suffix):
                return k
        return 0

    def scan(self, text: str) -> list[Hit]:
        """All hits in ``text``, allow-listed ones removed; sorted by start, longest first,
        then library order."""
        return self.scan_normalized(normalize(text, self._config))

    def scan_normalized(self, norm: Normalized) -> list[Hit]:
        """Like :meth:`scan` for a caller that normalized with this matcher's config."""
        if self._automaton is None:
            return []
        text = norm.text
        n = len(text)
        found: list[tuple[int, int, int]] = []  # (start, end, term_id), normalized coords
        allowed: list[tuple[int, int]] = []
        patterns = self._patterns
        for index, start, end in self._automaton.find_matches_as_indexes(text, overlapping=True):
            pattern = patterns[index]
            if pattern.left_bounded and start > 0 and _is_word_char(text[start - 1]):
                continue
            if pattern.right_bounded and end < n and _is_word_char(text[end]):
                continue
            if pattern.allow:
                allowed.append((start, end))
            for term_id in pattern.term_ids:
                found.append((start, end, term_id))
        if not found:
            return []
        if allowed:
            found = [f for f in found if not any(a <= f[0] and f[1] <= b for a, b in allowed)]
        offsets = norm.offsets
        spans: set[tuple[int, int, int]] = set()  # (start, -end, term_id): sorts as wanted
        for start, end, term_id in found:
            o_start, o_end = offsets[start], offsets[end]
            if o_end <= offsets[end - 1]:
                o_start, o_end = _original_span(offsets, start, end)
            spans.add((o_start, -o_end, term_id))
        terms = self._terms
        return [
            Hit(t.text, t.category, t.level, start, -neg_end)
            for start, neg_end, term_id in sorted(spans)
            for t in (terms[term_id],)
        ]


def _original_span(offsets: Sequence[int], start: int, end: int) -> tuple[int, int]:
    """Map a normalized span to the original text.

    When one original char expanded to several normalized chars (``㈱`` -> ``(株)``), a
    match may end inside the expansion; the span then extends to cover the whole original
    char instead of collapsing.
    """
    o_start = offsets[start]
    o_end = offsets[end]
    last = offsets[end - 1]
    if o_end <= last:
        i = end
        while i < len(offsets) - 1 and offsets[i] <= last:
            i += 1
        o_end = offsets[i]
    return o_start, o_end
