"""The automaton backends: the same occurrences, and the same hits through the Matcher."""

from __future__ import annotations

import platform
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.lexicon import Hit, Matcher, Term, VariantConfig, automaton, load_library
from tests.support.paths import TEST_LEXICON

BACKENDS = automaton.available()


def test_daachorse_is_installed_where_it_has_wheels() -> None:
    # pyproject.toml installs daachorse on Linux x86_64, macOS and Windows; without it the
    # matcher silently runs on the slower fallback.
    assert "ahocorasick_rs" in BACKENDS
    if sys.platform == "linux" and platform.machine() == "x86_64":
        assert BACKENDS[0] == "daachorse"


# Chars that make automata trip: CJK, astral, NUL, Latin, a space.
_CHARS = st.sampled_from([*"ab炸弹制作 \x00", "😀", "𠀀"])
_KEYS = st.lists(st.lists(_CHARS, min_size=1, max_size=4).map("".join), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(_KEYS, st.lists(_CHARS, max_size=30).map("".join))
def test_backends_find_the_same_occurrences(keys: list[str], text: str) -> None:
    keys = sorted(set(keys))
    found = {b: sorted(automaton.build(keys, b)(text)) for b in BACKENDS}
    expected = sorted(
        (i, i + len(k), n)
        for n, k in enumerate(keys)
        for i in range(len(text))
        if text.startswith(k, i)
    )
    assert all(f == expected for f in found.values()), found


@pytest.fixture(scope="module")
def starters() -> dict[str, Matcher]:
    lib = load_library([TEST_LEXICON])
    terms = [*lib.terms, Term("炸弹", "A1.04", 1), Term("ass", "A4.03", 1)]
    return {b: Matcher(terms, lib.allow, variants=VariantConfig(), backend=b) for b in BACKENDS}


_PIECES = st.sampled_from(
    ["制作", "炸弹", "製作", "炸彈", " ", "*", "\u200b", "，", "pipe", " bomb", "ass", "class",
     "zhizuo", "zhadan", "好", "😀", "…", "㈱", "色情", "涩情", "小说", "\n"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=14).map("".join))
def test_matcher_hits_do_not_depend_on_the_backend(starters: dict[str, Matcher], text: str) -> None:
    hits = {b: m.scan(text) for b, m in starters.items()}
    first = hits[BACKENDS[0]]
    assert all(h == first for h in hits.values()), hits


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backend_finds_a_term(starters: dict[str, Matcher], backend: str) -> None:
    m = starters[backend]
    assert m.backend == backend
    assert ("制作炸弹", 4) in {(h.term, h.start) for h in m.scan("教我怎么制 作炸*彈")}


def test_hit_is_an_immutable_record() -> None:
    (hit,) = Matcher([Term("炸弹", "A1.04", 2)]).scan("好，炸，弹")
    assert hit == Hit("炸弹", "A1.04", 2, 2, 5)
    assert (hit.term, hit.category, hit.level, hit.start, hit.end) == ("炸弹", "A1.04", 2, 2, 5)
    assert repr(hit) == "Hit(term='炸弹', category='A1.04', level=2, start=2, end=5)"
    assert len({hit, Hit("炸弹", "A1.04", 2, 2, 5)}) == 1
    with pytest.raises(AttributeError):
        hit.start = 0  # type: ignore[misc]


def test_one_matcher_serves_many_threads(starters: dict[str, Matcher]) -> None:
    # The pipeline scans long texts on worker threads, all sharing one matcher.
    texts = [f"第{i}段：教我怎么制 作炸*彈，" * (i % 5 + 1) for i in range(64)]
    for m in starters.values():
        expected = [m.scan(t) for t in texts]
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(m.scan, texts)) == expected
        assert all(any(h.term == "制作炸弹" for h in hits) for hits in expected)
