"""The hold-back invariant: nothing of a prohibited term is released before it is caught."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.lexicon import Matcher, Term
from gateway.moderation.stream_moderator import StreamModerator

TERM = "制作炸弹"
BENIGN = st.text(alphabet="今天天气很好我们去公园散步吧，。abc 123", min_size=0, max_size=40)


def _run(chunks: list[str], holdback: int = len(TERM) - 1 + 2, every: int = 5) -> tuple[str, bool]:
    """Drive a moderator with a checker that blocks when the window holds TERM."""
    mod = StreamModerator(holdback=holdback, every=every)
    released = ""
    for chunk in chunks:
        if mod.feed(chunk):
            window, _ = mod.window()
            if TERM in window:
                return released, True
            released += mod.passed()
    window, _ = mod.window()
    if TERM in window:
        return released, True
    return released + mod.passed(final=True), False


@settings(max_examples=300, deadline=None)
@given(before=BENIGN, after=BENIGN, cuts=st.lists(st.integers(1, 6), min_size=1, max_size=30))
def test_term_is_never_partly_released(before: str, after: str, cuts: list[int]) -> None:
    text = before + TERM + after
    chunks, pos, i = [], 0, 0
    while pos < len(text):
        n = cuts[i % len(cuts)]
        chunks.append(text[pos : pos + n])
        pos += n
        i += 1
    released, blocked = _run(chunks)
    assert blocked
    assert text.startswith(released)
    assert len(released) <= len(before), "a character of the term was released"


@settings(max_examples=200, deadline=None)
@given(text=BENIGN, cuts=st.lists(st.integers(1, 6), min_size=1, max_size=30))
def test_benign_text_is_released_whole_and_in_order(text: str, cuts: list[int]) -> None:
    chunks, pos, i = [], 0, 0
    while pos < len(text):
        chunks.append(text[pos : pos + cuts[i % len(cuts)]])
        pos += cuts[i % len(cuts)]
        i += 1
    released, blocked = _run(chunks)
    assert not blocked
    assert released == text


def test_separators_inside_a_term_are_held_too() -> None:
    # "炸 * 弹" normalizes to "炸弹": the hold-back counts normalized characters, so the
    # separators do not let the first half slip out.
    mod = StreamModerator(holdback=3, every=1)
    out = ""
    for ch in "好的 制 * 作 炸":
        mod.feed(ch)
        out += mod.passed()
    assert "制" not in out


def test_trailing_numbers_are_held_until_complete() -> None:
    mod = StreamModerator(holdback=3, every=1)
    mod.feed("电话是1381234")
    released = mod.passed()
    assert released == "电话是"
    mod.feed("5678。")
    assert mod.passed(final=True) == "13812345678。"


def test_check_is_due_on_interval_and_punctuation() -> None:
    mod = StreamModerator(holdback=3, every=10)
    assert mod.feed("你好") is True  # nothing sent yet: every chunk may let the first text out
    assert mod.passed() == ""  # two characters, all held back
    assert mod.feed("，今天天气") is True
    assert mod.passed() == "你好，今"
    assert mod.feed("很") is False  # one new character, no punctuation
    assert mod.feed("好。") is True
    mod.passed()
    assert mod.feed("abcdefghij") is True


def _prefix_probe(normalized: str) -> int:
    for k in range(min(len(normalized), len(TERM) - 1), 0, -1):
        if TERM.startswith(normalized[-k:]):
            return k
    return 0


@settings(max_examples=300, deadline=None)
@given(before=BENIGN, after=BENIGN, cuts=st.lists(st.integers(1, 6), min_size=1, max_size=30))
def test_prefix_mode_never_releases_part_of_the_term(
    before: str, after: str, cuts: list[int]
) -> None:
    text = before + TERM + after
    mod = StreamModerator(holdback=0, every=3, pending_prefix=_prefix_probe)
    released, pos, i = "", 0, 0
    while pos < len(text):
        n = cuts[i % len(cuts)]
        chunk = text[pos : pos + n]
        pos += n
        i += 1
        if mod.feed(chunk):
            if TERM in mod.window()[0]:
                break
            released += mod.passed()
    assert text.startswith(released)
    assert len(released) <= len(before)


def test_prefix_mode_releases_early_when_no_term_can_be_growing() -> None:
    mod = StreamModerator(holdback=0, every=1, pending_prefix=_prefix_probe)
    mod.feed("今天天气很好我们出去")
    assert mod.passed() == "今天天气很好我们出去"  # nothing could still become a term
    mod.feed("制")
    assert mod.passed() == ""  # "制" may begin 制作炸弹
    mod.feed("度")
    assert mod.passed() == "制度"


# Evasion spellings of a term: any run of separators, newlines, clause punctuation, marks
# and invisible characters between its characters. The real matcher judges the windows.
_EVASIONS = st.lists(
    st.sampled_from([" ", "\n", "，", "。", "*", "\u0301", "\u200b", "      ", "💣", "\r\n"]),
    max_size=3,
).map("".join)


def _evasive(term: str, gaps: list[str]) -> str:
    return "".join(ch + (gaps[i % len(gaps)] if gaps and i < len(term) - 1 else "")
                   for i, ch in enumerate(term))  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    before=BENIGN,
    after=BENIGN,
    gaps=st.lists(_EVASIONS, min_size=1, max_size=4),
    cuts=st.lists(st.integers(1, 4), min_size=1, max_size=20),
    prefix_mode=st.booleans(),
)
def test_evasive_spellings_are_caught_before_any_part_is_released(
    before: str, after: str, gaps: list[str], cuts: list[int], prefix_mode: bool
) -> None:
    matcher = Matcher([Term(TERM, "A1.04", 3)])
    spelled = _evasive(TERM, gaps)
    text = before + spelled + after
    mod = StreamModerator(
        holdback=0 if prefix_mode else matcher.max_term_len - 1,
        every=3,
        pending_prefix=matcher.pending_prefix_len if prefix_mode else None,
    )
    released, blocked, pos, i = "", False, 0, 0
    while pos <= len(text) and not blocked:
        final = pos >= len(text)
        if not final:
            chunk = text[pos : pos + cuts[i % len(cuts)]]
            pos += len(chunk)
            i += 1
            if not mod.feed(chunk):
                continue
        if matcher.scan(mod.window()[0]):
            blocked = True
            break
        released += mod.passed(final=final)
        if final:
            break
    assert blocked, f"{spelled!r} was not caught"
    assert text.startswith(released)
    assert len(released) <= len(before), "a character of the evasive term was released"
