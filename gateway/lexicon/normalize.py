"""Text normalization that defeats common keyword evasions and keeps offsets.

Rules, applied left to right to *clusters* (a base character plus the combining marks that
follow it, at most :data:`MAX_CLUSTER` original characters):

1. zero-width and other invisible characters are removed;
2. Unicode NFKC (full-width ASCII ``ＡＢＣ１`` becomes ``ABC1``, ``①`` becomes ``1``), with
   combining marks dropped on the way (``炸\u0301弹`` becomes ``炸弹``, ``bómb`` becomes
   ``bomb``): NFKD, remove every mark (Unicode category M), then NFC;
3. full-width to half-width (only matters when NFKC is off);
4. case folding (``Bomb`` and ``BOMB`` become ``bomb``);
5. traditional to simplified Chinese per character (``炸彈`` becomes ``炸弹``);
6. a run of separators of any length (whitespace, newlines, punctuation including Chinese
   clause punctuation, symbols, emoji, control and invisible characters) between two CJK
   characters is removed (``炸 弹``, ``炸*弹``, ``炸，弹``, ``炸\n弹``, ``炸      弹`` all
   become ``炸弹``). Joining clauses can make a term match across a sentence boundary in
   benign text; that false-positive cost was measured on benign corpora
   (``loadtest/lexicon_fpr.py``) and is far smaller than the evasion it closes.

Homophone and pinyin evasions are not handled here: the matcher expands *terms* instead
(see :mod:`gateway.lexicon.variants`), which keeps the text and its offsets simple.

Streaming contract
------------------
``normalize`` is left to right: for any split ``text = p + s``, every normalized character
of ``normalize(p)`` whose offset is ``< stable_end(p)`` appears, with the same offset and at
the same index, in ``normalize(p + s)``. What can still change is the tail from
:func:`stable_end` on: a trailing run of separators (it vanishes once a CJK character follows
it, however long it is) and the last :data:`UNSTABLE_TAIL` (= 3) original characters (a
trailing cluster can absorb following combining marks). A stream moderator that
re-normalizes a held-back window must keep that tail unreleased, in addition to
``max_term_len``.

Cost
----
Linear in the text: every step is a C-level scan or a Python loop over separator runs or
clusters, offsets are built once (a ``range`` where normalization moved nothing, so a long
text costs no offset memory), and every per-config cache is bounded.
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple, overload

from gateway.lexicon import charclass

MAX_CLUSTER = 4
UNSTABLE_TAIL = MAX_CLUSTER - 1

_SURROGATES: dict[int, int] = dict.fromkeys(range(0xD800, 0xE000), 0xFFFD)

# Full-width ASCII variants and the ideographic space, for NFKC-off configurations.
_FULLWIDTH: dict[int, int] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


@dataclass(frozen=True, slots=True)
class NormalizeConfig:
    """Which normalization rules run. The default (all on) is what the gateway uses."""

    nfkc: bool = True
    casefold: bool = True
    fullwidth: bool = True
    traditional_to_simplified: bool = True
    strip_zero_width: bool = True
    strip_separators_between_cjk: bool = True
    strip_marks: bool = True  # combining accents, enclosing circles ...


class Normalized(NamedTuple):
    """Normalized text plus, for each of its characters, the index in the original text.

    ``len(offsets) == len(text) + 1``; the last entry is the original length, so the
    original span of normalized ``text[i:j]`` starts at ``offsets[i]``. ``offsets`` is a
    ``range`` when nothing moved (no memory per character), else a sequence computed on
    first use (:class:`SegmentOffsets`) or a tuple.

    A named tuple rather than a frozen dataclass: one is made per text on the hot path, and
    a frozen dataclass costs a few times as much to create. Equality compares the offsets
    as values, whatever their type.
    """

    text: str
    offsets: Sequence[int]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Normalized):
            return NotImplemented
        return self.text == other.text and tuple(self.offsets) == tuple(other.offsets)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self.text)


DEFAULT_CONFIG = NormalizeConfig()


# Chars NFKC would expand that are kept as they are. The ellipsis is in about one Chinese
# comment in seven; expanding it to "..." helps no match, and keeping it one char keeps
# such text on the fast path.
_NFKC_KEEP = "…‥"


def map_chars(s: str, config: NormalizeConfig) -> str:
    """Apply the per-character rules (1-5) to one cluster, or to a whole term."""
    if config.nfkc and any(c in s for c in _NFKC_KEEP):
        # Map the pieces around each kept char; the kept char itself passes through.
        pieces = re.split(f"([{_NFKC_KEEP}])", s)
        return "".join(p if p and p in _NFKC_KEEP else map_chars(p, config) for p in pieces)
    if not s.isascii():
        # A lone surrogate (from a JSON "\ud800" escape) cannot be encoded as UTF-8, which
        # the automaton needs; it becomes U+FFFD, a symbol like any other.
        s = s.translate(_SURROGATES)
    if config.strip_zero_width:
        s = _drop_zero_width(s)
    s = _compose(s, config)
    if config.fullwidth:
        s = s.translate(_FULLWIDTH)
    if config.casefold:
        s = s.casefold()
        # casefold can leave a decomposed form (U+01F0 -> j + U+030C)
        s = _compose(s, config)
    if config.traditional_to_simplified:
        s = s.translate(charclass.t2s_table())
    if config.strip_zero_width:
        s = _drop_zero_width(s)
    return s


# Kana voicing marks change the syllable (か/が), unlike an accent on a CJK character.
_KEPT_MARKS = frozenset("\u3099\u309a")
# ... and their spacing and half-width forms, which NFKC turns into them.
_VOICING = frozenset("\u3099\u309a\u309b\u309c\uff9e\uff9f")


def _compose(s: str, config: NormalizeConfig) -> str:
    """NFKC (or nothing), dropping combining marks on the way when ``strip_marks`` is on.

    NFKC is NFKD followed by canonical composition, so decomposing, dropping the marks and
    composing again gives NFKC without them: an accent or an enclosing circle on a CJK
    character can no longer split a term (``炸\u0301弹``), and ``bómb`` reads ``bomb``."""
    if s.isascii():
        return s
    if not config.strip_marks:
        return unicodedata.normalize("NFKC", s) if config.nfkc else s
    decomposed = unicodedata.normalize("NFKD" if config.nfkc else "NFD", s)
    kept = "".join(
        c for c in decomposed if c in _KEPT_MARKS or not unicodedata.category(c).startswith("M")
    )
    return unicodedata.normalize("NFC", kept)


def _drop_zero_width(s: str) -> str:
    if s.isascii():
        return s
    return "".join(c for c in s if c not in charclass.ZERO_WIDTH)


@dataclass(frozen=True, slots=True)
class _Tables:
    """Per-config derived data, built once (a fraction of a second) on first use.

    The fast-path classes cover the BMP only: Python's regex engine tests a BMP-only class
    with one bitmap lookup, while a class with many astral ranges is a linear scan. Astral
    characters (emoji, CJK extension B) are "special": the cluster path handles them.
    """

    one_to_one: dict[int, int]  # BMP chars whose normalization is one other char
    mapped: re.Pattern[str]  # any char of one_to_one
    special: re.Pattern[str]  # chars that need the cluster-by-cluster path (astral too)
    unsafe: frozenset[str]  # special or strippable-separator chars: no safe cut next to them
    extenders: frozenset[int]  # chars that join the cluster before them
    separator_run: re.Pattern[str]  # a separator run with CJK chars on both sides (group 1)
    cjk: frozenset[str]  # BMP chars that normalize to a CJK char
    clusters: dict[str, _ClusterInfo]  # cluster -> mapped info, bounded, per config


@dataclass(slots=True)
class _CharSets:
    """Every char sorted by how normalization treats it (code points)."""

    one_to_one: dict[int, int] = field(default_factory=dict)  # maps to one other char
    special: set[int] = field(default_factory=set)  # expands, vanishes or combines
    extenders: set[int] = field(default_factory=set)  # joins the cluster before it
    cjk: set[int] = field(default_factory=set)  # BMP, maps to a CJK char
    separators: set[int] = field(default_factory=set)  # BMP, strippable between CJK


def _classify(config: NormalizeConfig) -> _CharSets:
    sets = _CharSets()
    one_to_one, special, extenders = sets.one_to_one, sets.special, sets.extenders
    cjk, separators = sets.cjk, sets.separators
    t2s = charclass.t2s_table() if config.traditional_to_simplified else {}
    # Planes 0-2 hold every char NFKC, case folding or t2s changes; above them (CJK ext G+,
    # private use) chars map to themselves, except the invisible tags in ZERO_WIDTH.
    for cp in range(0x30000):
        ch = chr(cp)
        if charclass.extends_cluster(ch) or (
            config.nfkc
            and (n := unicodedata.normalize("NFKC", ch))
            and charclass.extends_cluster(n[0])
        ):
            extenders.add(cp)
            special.add(cp)
            continue
        if (
            unicodedata.decomposition(ch) == ""
            and ch.casefold() == ch
            and cp not in t2s
            and ch not in charclass.ZERO_WIDTH
            and not (config.fullwidth and cp in _FULLWIDTH)
            and not 0xD800 <= cp <= 0xDFFF
        ):
            out = ch  # nothing applies: skip the expensive mapping
        else:
            out = map_chars(ch, config)
        if len(out) != 1:
            special.add(cp)
            continue
        if out != ch:
            one_to_one[cp] = ord(out)
        if cp < 0x10000:
            if charclass.is_cjk(out):
                cjk.add(cp)
            elif charclass.is_separator(out):
                separators.add(cp)
    if config.strip_zero_width:
        special |= {ord(c) for c in charclass.ZERO_WIDTH}
    return sets


@cache
def _tables(config: NormalizeConfig) -> _Tables:
    sets = _classify(config)
    one_to_one, special, separators = sets.one_to_one, sets.special, sets.separators
    cjk, extenders = sets.cjk, sets.extenders
    cjk_class = charclass.char_class(cjk)
    sep_class = charclass.char_class(separators)
    return _Tables(
        one_to_one=one_to_one,
        mapped=re.compile(f"[{charclass.char_class(c for c in one_to_one if c < 0x10000)}]"),
        # One astral range keeps the class fast (a bitmap for the BMP part).
        special=re.compile(
            f"[{charclass.char_class(c for c in special if c < 0x10000)}\U00010000-\U0010ffff]"
        ),
        unsafe=frozenset(chr(c) for c in special | separators),
        extenders=frozenset(extenders),
        # Starting with the separator class lets the regex engine skip to the next separator
        # in a C loop (most chars are not separators) instead of trying a match at every
        # position. The lookbehind (the char before the run is CJK) fails at once inside a
        # run, and the possessive run never backtracks, so a long run costs one pass however
        # it ends. The group makes ``split`` return the runs too (see SegmentOffsets).
        separator_run=re.compile(
            f"([{sep_class}](?<=[{cjk_class}][{sep_class}])[{sep_class}]*+)(?=[{cjk_class}])"
        ),
        cjk=frozenset(chr(c) for c in cjk),
        clusters={},
    )


# The tables of the config used last: one identity test instead of hashing the config
# (a dataclass hash, in Python) on every call. Replaced whole, so threads see a consistent pair.
_last_tables: tuple[NormalizeConfig, _Tables] | None = None


def _tables_for(config: NormalizeConfig) -> _Tables:
    global _last_tables
    last = _last_tables
    if last is not None and last[0] is config:
        return last[1]
    tables = _tables(config)
    _last_tables = (config, tables)
    return tables


def normalize(text: str, config: NormalizeConfig = DEFAULT_CONFIG) -> Normalized:
    """Normalize ``text`` for matching; see the module docstring for rules and contract."""
    if text.isascii():
        # ASCII is NFKC already, has no CJK and no invisible characters: one C call.
        return Normalized(text.lower() if config.casefold else text, range(len(text) + 1))
    tables = _tables_for(config)
    if tables.special.search(text) is None:  # most text: one regex pass finds nothing
        out, offsets = _normalize_simple(text, config, tables)
        return Normalized(out, offsets)
    regions = _special_regions(text, tables)
    # Mixed text: the cluster path only around special chars (an ellipsis, an emoji), the
    # fast path in between. Cutting is exact at a "safe cut" (see _special_regions).
    pieces: list[str] = []
    all_offsets: list[int] = []
    pos = 0
    for start, end in regions:
        for a, b, fast in ((pos, start, True), (start, end, False)):
            if a == b:
                continue
            if fast:
                out, offsets = _normalize_simple(text[a:b], config, tables)
            else:
                norm = _normalize_clusters(text[a:b], config, tables)
                out, offsets = norm.text, norm.offsets
            pieces.append(out)
            all_offsets.extend([o + a for o in offsets[:-1]])
        pos = end
    if pos < len(text):
        out, offsets = _normalize_simple(text[pos:], config, tables)
        pieces.append(out)
        all_offsets.extend([o + pos for o in offsets[:-1]])
    all_offsets.append(len(text))
    return Normalized("".join(pieces), tuple(all_offsets))


def stable_end(text: str, config: NormalizeConfig = DEFAULT_CONFIG) -> int:
    """The original offset from which ``normalize(text)`` may still change when more text
    is appended (see "Streaming contract"): before a trailing run of separators, invisible
    characters and marks, and before a last character that a following mark could still
    compose with (and the separators before that one). Combining marks are dropped, so that
    is only kana (voicing marks are kept) and Hangul jamo; without ``strip_marks`` it is the
    last :data:`UNSTABLE_TAIL` characters."""
    i = len(text)
    while i > 0 and _trailing_strippable(text[i - 1], config):
        i -= 1
    if not config.strip_marks:
        return max(0, min(len(text) - UNSTABLE_TAIL, i))
    if i > 0 and _may_compose(text[i - 1]):
        i -= 1
        # Separators just before it go with it: whether one is dropped depends on the class
        # of the character after it ("炸*ᄀ" keeps "*"; with "ᅡ" appended, ᄀ + ᅡ compose to
        # the syllable 가 and the "*" between two letters is dropped).
        while i > 0 and _trailing_strippable(text[i - 1], config):
            i -= 1
    return i


def _may_compose(ch: str) -> bool:
    """A base that a following kept mark or jamo could still turn into another character."""
    cp = ord(ch)
    return (
        0x3040 <= cp <= 0x30FF  # kana (+ voicing marks)
        or 0xFF65 <= cp <= 0xFF9F  # half-width katakana
        or 0x1100 <= cp <= 0x11FF  # conjoining jamo
        or 0xA960 <= cp <= 0xA97F
        or 0xAC00 <= cp <= 0xD7FF  # syllables (+ trailing jamo)
    )


def _trailing_strippable(ch: str, config: NormalizeConfig) -> bool:
    if ch in charclass.ZERO_WIDTH or charclass.extends_cluster(ch) or ch in _VOICING:
        return True
    out = map_chars(ch, config)
    return all(charclass.is_separator(c) for c in out)


def _special_regions(text: str, tables: _Tables) -> list[tuple[int, int]]:
    """Spans that need the cluster path, each widened to safe cuts on both sides.

    A safe cut is a position between two chars that are neither special nor strippable
    separators (or the text's start or end). Normalizing the two sides of a safe cut
    separately gives the same result as normalizing the whole: the left side ends with a
    complete cluster and no pending separator run, and the right side starts with a char
    that sets the "after CJK" state the same way either way.
    """
    unsafe = tables.unsafe
    n = len(text)
    regions: list[tuple[int, int]] = []
    for m in tables.special.finditer(text):
        p = m.start()
        if regions and p < regions[-1][1]:
            continue
        a = p
        while a > 0 and not (_safe(text[a - 1], unsafe) and _safe(text[a], unsafe)):
            a -= 1
        b = p + 1
        while b < n and not (_safe(text[b - 1], unsafe) and _safe(text[b], unsafe)):
            b += 1
        if regions and a <= regions[-1][1]:
            regions[-1] = (regions[-1][0], b)
        else:
            regions.append((a, b))
    return regions


def _safe(ch: str, unsafe: frozenset[str]) -> bool:
    return ch not in unsafe and ch < "\U00010000"


def _normalize_simple(
    text: str, config: NormalizeConfig, tables: _Tables
) -> tuple[str, Sequence[int]]:
    """Text without special chars: every char maps to exactly one char, so only separator
    runs move offsets. The runs are cut first (one regex pass in C), then the chars are
    mapped; mapping one char to one char commutes with cutting, and the runs are found in
    the original text because the separator classes were computed on original chars.
    Offsets are worked out from the pieces only if someone reads them (a text without a
    hit never does)."""
    n = len(text)
    if not config.strip_separators_between_cjk:
        return _map_one_to_one(text, tables), range(n + 1)
    # [kept, run, kept, run, ..., kept]: the runs come back because the pattern has a group.
    parts = tables.separator_run.split(text)
    if len(parts) == 1:
        return _map_one_to_one(text, tables), range(n + 1)
    out = _map_one_to_one("".join(parts[::2]), tables)
    return out, SegmentOffsets(parts, len(out))


def _map_one_to_one(text: str, tables: _Tables) -> str:
    """Replacing each distinct mapped char with ``str.replace`` beats a ``str.translate``
    over the whole text (a dict lookup per char) by about 3x. Called after separator runs
    were cut, which takes most full-width punctuation out of Chinese text."""
    first = tables.mapped.search(text)
    if first is None:
        return text
    table = tables.one_to_one
    for ch in set(tables.mapped.findall(text, first.start())):
        text = text.replace(ch, chr(table[ord(ch)]))
    return text


class SegmentOffsets(Sequence[int]):
    """Offsets of a text from which separator runs were cut, from the pieces of the cut
    (``[kept, run, kept, run, ..., kept]``). Normalized position ``i`` comes from original
    position ``i + removed[bisect_right(bounds, i)]``, where ``bounds`` are the normalized
    starts of kept pieces 1.. and ``removed[k]`` counts the chars cut before kept piece
    ``k``. Nothing is computed until an offset is read (a text without a hit never reads
    one); the per-character list is made only for a slice or iteration."""

    __slots__ = ("_len", "_parts", "_shifts")

    def __init__(self, parts: list[str], length: int) -> None:
        self._parts = parts
        self._len = length + 1
        self._shifts: tuple[list[int], list[int]] | None = None

    def shifts(self) -> tuple[list[int], list[int]]:
        """``(bounds, removed)``, see the class docstring: what a caller that maps many
        positions at once (the matcher) needs."""
        # Parts first: once they are dropped, the shifts are set, so a thread that races
        # another here computes from the real parts or finds the shifts.
        parts = self._parts
        shifts = self._shifts
        if shifts is None:
            lengths = list(map(len, parts))
            shifts = self._shifts = (
                list(itertools.accumulate(lengths[0:-1:2])),
                list(itertools.accumulate(lengths[1::2], initial=0)),
            )
            self._parts = []  # the pieces are no longer needed
        return shifts

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, i: int) -> int: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[int]: ...
    def __getitem__(self, i: int | slice) -> int | Sequence[int]:
        if isinstance(i, slice):
            return tuple(self._all()[i])
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(i)
        bounds, removed = self.shifts()
        return i + removed[bisect.bisect_right(bounds, i)]

    def __iter__(self) -> Iterator[int]:
        return iter(self._all())

    def _all(self) -> list[int]:
        bounds, removed = self.shifts()
        out: list[int] = []
        for start, end, shift in zip([0, *bounds], [*bounds, self._len], removed, strict=True):
            out.extend(range(start + shift, end + shift))
        return out


def _normalize_clusters(text: str, config: NormalizeConfig, tables: _Tables) -> Normalized:
    """The general path: cluster by cluster. Also the reference the fast path must equal."""
    strip_runs = config.strip_separators_between_cjk
    cache = tables.clusters
    pieces: list[str] = []
    offsets: list[int] = []
    # A separator run after a CJK char is held in `pending` until we know what follows it.
    pending: list[tuple[int, str]] = []
    after_cjk = False  # the last emitted output char is CJK
    for start, raw in _clusters(text, tables.extenders):
        info = cache.get(raw)
        if info is None:
            info = _cluster_info(raw, config)
            if len(cache) >= _CLUSTER_CACHE_MAX:
                cache.clear()  # bounded: a flood of distinct clusters cannot grow memory
            cache[raw] = info
        out, strippable, starts_cjk, ends_cjk = info
        if strip_runs and after_cjk and strippable:
            pending.append((start, out))
            continue
        if pending:
            if not starts_cjk:
                for p_start, p_out in pending:
                    pieces.append(p_out)
                    offsets.extend([p_start] * len(p_out))
            pending.clear()
        if out:
            pieces.append(out)
            offsets.extend([start] * len(out))
            after_cjk = ends_cjk
    for p_start, p_out in pending:
        pieces.append(p_out)
        offsets.extend([p_start] * len(p_out))
    offsets.append(len(text))
    return Normalized("".join(pieces), tuple(offsets))


_CLUSTER_CACHE_MAX = 65536
_ClusterInfo = tuple[str, bool, bool, bool]  # output, strippable, starts CJK, ends CJK


def _cluster_info(raw: str, config: NormalizeConfig) -> _ClusterInfo:
    out = map_chars(raw, config)
    # An empty output (an invisible char, a lone mark) continues a separator run.
    strippable = all(charclass.is_separator(c) for c in out)
    return (
        out,
        strippable,
        bool(out) and charclass.is_cjk(out[0]),
        bool(out) and charclass.is_cjk(out[-1]),
    )


def _clusters(text: str, extenders: frozenset[int]) -> list[tuple[int, str]]:
    """Split into (start, chars): a base plus up to MAX_CLUSTER - 1 following extenders."""
    clusters: list[tuple[int, str]] = []
    start = 0
    n = len(text)
    for i in range(1, n + 1):
        if i == n or ord(text[i]) not in extenders or i - start >= MAX_CLUSTER:
            clusters.append((start, text[start:i]))
            start = i
    return clusters
