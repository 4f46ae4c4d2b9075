"""Aho-Corasick keyword matching over normalized text, with an allow list.

The automaton is Rust (``daachorse``, else ``ahocorasick_rs``; see
:mod:`gateway.lexicon.automaton`).

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

Cost: one automaton pass over the normalized text; Python work only per match, and the
original offsets are looked up only for the hits that are kept.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from gateway.lexicon import automaton
from gateway.lexicon.normalize import (
    DEFAULT_CONFIG,
    NormalizeConfig,
    Normalized,
    SegmentOffsets,
    normalize,
)
from gateway.lexicon.variants import VariantConfig, expand


@dataclass(frozen=True, slots=True)
class Term:
    """One keyword: its text, taxonomy category code (``A1.04``) and level (1 = lowest)."""

    text: str
    category: str
    level: int = 1


class Hit(NamedTuple):
    """A matched term; ``start:end`` is the span in the original text.

    A named tuple rather than a frozen dataclass: a text can have dozens of hits, and a
    frozen dataclass costs ~4x as much to create (its ``__init__`` goes through
    ``object.__setattr__`` for every field).
    """

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


# The same test as a set, for the scan loop (a membership test, no call).
_WORD_CHARS = frozenset(c for c in map(chr, range(0x0250)) if _is_word_char(c))


class Matcher:
    """Finds library terms (and their variants) in text; see the module docstring."""

    def __init__(
        self,
        terms: Iterable[Term],
        allow: Iterable[str] = (),
        config: NormalizeConfig = DEFAULT_CONFIG,
        variants: VariantConfig | None = None,
        backend: automaton.Backend | None = None,
    ) -> None:
        """``backend`` picks the automaton implementation (default: the fastest installed);
        every backend gives the same hits."""
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
        # Most keys stand for one term and need no boundary or allow check: the scan loop
        # takes those in one step (the term id here; -1 sends a key to the full check).
        self._plain: tuple[int, ...] = tuple(
            p.term_ids[0]
            if len(p.term_ids) == 1 and not (p.allow or p.left_bounded or p.right_bounded)
            else -1
            for p in self._patterns
        )
        self._hit_fields: tuple[tuple[str, str, int], ...] = tuple(
            (t.text, t.category, t.level) for t in self._terms
        )
        self._keys: tuple[str, ...] = tuple(keys)
        self._max_len = max((len(k) for k in keys), default=0)
        self._backend: automaton.Backend = backend or automaton.available()[0]
        self._find_all: automaton.FindAll | None = (
            automaton.build(keys, self._backend) if keys else None
        )

    @property
    def backend(self) -> automaton.Backend:
        """The automaton implementation in use (see :mod:`gateway.lexicon.automaton`)."""
        return self._backend

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
        if self._find_all is None:
            return []
        text = norm.text
        matches = self._find_all(text)
        if not matches:
            return []
        n = len(text)
        # (start, -end, term_id) in normalized chars: sorts start first, longest first, then
        # library order.
        found: list[tuple[int, int, int]] = []
        allowed: list[tuple[int, int]] = []
        plain, patterns, word = self._plain, self._patterns, _WORD_CHARS
        for start, end, index in matches:
            term_id = plain[index]
            if term_id >= 0:
                found.append((start, -end, term_id))
                continue
            pattern = patterns[index]
            if pattern.left_bounded and start > 0 and text[start - 1] in word:
                continue
            if pattern.right_bounded and end < n and text[end] in word:
                continue
            if pattern.allow:
                allowed.append((start, end))
            for term_id in pattern.term_ids:
                found.append((start, -end, term_id))
        if allowed:
            found = [f for f in found if not any(a <= f[0] and -f[1] <= b for a, b in allowed)]
        if not found:
            return []
        fields = self._hit_fields
        offsets = norm.offsets
        # Where offsets strictly increase (nothing expanded), sorting in normalized chars
        # gives the order in the original text, and each hit is mapped as it is made.
        # tuple.__new__ skips the named tuple's Python-level __new__ (same object, a few
        # times cheaper; a text full of ordinary words has many hits).
        if isinstance(offsets, range) and offsets.start == 0 and offsets.step == 1:
            found.sort()  # nothing moved
            return [_new_hit(Hit, fields[t] + (s, -neg_e)) for s, neg_e, t in found]
        if isinstance(offsets, SegmentOffsets):  # separator runs were cut
            found.sort()
            bounds, removed = offsets.shifts()
            right = bisect.bisect_right
            return [
                _new_hit(
                    Hit,
                    fields[t] + (s + removed[right(bounds, s)], removed[right(bounds, -ne)] - ne),
                )
                for s, ne, t in found
            ]
        # Offsets may repeat here (one char expanded to several), so two normalized spans
        # can land on one original span: a set keeps one hit.
        keys: set[tuple[int, int, int]] = set()
        for start, neg_end, term_id in found:
            end = -neg_end
            o_start, o_end = offsets[start], offsets[end]
            if o_end <= offsets[end - 1]:
                o_start, o_end = _original_span(offsets, start, end)
            keys.add((o_start, -o_end, term_id))
        return [_new_hit(Hit, fields[t] + (s, -neg_e)) for s, neg_e, t in sorted(keys)]


_new_hit = tuple.__new__


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
