"""Leak-free streaming: hold back the unchecked tail of a streamed text, release what passed.

Invariant: no character is released before a check has seen it together with enough
following text to rule out that it begins a prohibited term. After each check that passes,
everything is released except the last ``holdback`` normalized characters (the longest term
minus one, plus slack) and any trailing run of ASCII word characters (a phone number, an
e-mail address or an English word may still be growing). A term split across chunks
(``炸`` then ``弹``) is therefore always checked whole before any part of it leaves.

This module is pure: it does no I/O and calls no checker; the caller runs the check on
``window()`` and reports the outcome with ``passed()``.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.lexicon.charclass import is_separator
from gateway.lexicon.normalize import NormalizeConfig, normalize, stable_end

# Sentence punctuation that makes a check due early: a finished clause is worth judging.
PUNCTUATION = frozenset("。！？；…!?;\n")
# Characters that may continue an ASCII token (word, number, e-mail, card number).
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._+-")
MAX_TOKEN_HOLD = 64


class StreamModerator:
    """The held-back buffer of one streamed field (one choice's content, reasoning, ...)."""

    __slots__ = ("_buf", "_checked", "_released", "context", "every", "holdback", "normalize",
                 "pending_prefix", "punctuation")  # fmt: skip

    def __init__(
        self,
        *,
        holdback: int,
        every: int,
        punctuation: bool = True,
        context: int = 0,
        normalize_config: NormalizeConfig | None = None,
        pending_prefix: Callable[[str], int] | None = None,
    ) -> None:
        self.holdback = holdback
        # In "prefix" mode the hold-back is only the tail that could still become a term
        # (plus ``holdback`` extra characters), instead of the longest term's length.
        self.pending_prefix = pending_prefix
        self.every = every
        self.punctuation = punctuation
        self.context = context  # already-released chars a classifier should see again
        self.normalize = normalize_config or NormalizeConfig()
        self._buf = ""
        self._checked = 0  # length of the buffer at the last check
        self._released = 0  # chars already sent to the client

    @property
    def text(self) -> str:
        return self._buf

    @property
    def released(self) -> int:
        """Characters already sent to the client."""
        return self._released

    @property
    def held(self) -> int:
        return len(self._buf) - self._released

    def feed(self, delta: str) -> bool:
        """Append upstream text; True when a check is due."""
        self._buf += delta
        new = len(self._buf) - self._checked
        if new >= self.every:
            return True
        if self._released == 0:
            return True  # nothing sent yet: every chunk may let the first text out
        return self.punctuation and any(ch in PUNCTUATION for ch in delta)

    @property
    def has_unchecked(self) -> bool:
        return len(self._buf) > self._checked

    def window(self) -> tuple[str, int]:
        """The text to check and its offset in the whole buffer: everything not yet
        released, plus ``context`` characters before it."""
        start = max(0, self._released - self.context)
        return self._buf[start:], start

    def passed(self, *, final: bool = False) -> str:
        """Record that ``window()`` passed; return the text that may now be released."""
        self._checked = len(self._buf)
        end = len(self._buf) if final else self._release_point()
        if end <= self._released:
            return ""
        out = self._buf[self._released : end]
        self._released = end
        return out

    def replace_unreleased(self, window_start: int, new_window: str) -> None:
        """Swap in a redacted window (returned by the checker for ``window()``)."""
        self._buf = self._buf[:window_start] + new_window
        self._checked = min(self._checked, len(self._buf))

    def _release_point(self) -> int:
        start = self._released
        tail = self._buf[start:]
        norm = normalize(tail, self.normalize)
        n = len(norm.text)
        # Trailing separators may still vanish (once the next CJK character arrives), so
        # they do not count toward the hold-back.
        while n and is_separator(norm.text[n - 1]):
            n -= 1
        hold = self.holdback
        if self.pending_prefix is not None:
            hold += self.pending_prefix(norm.text[:n])
        if n <= hold:
            return start
        # The tail may still normalize differently once more text arrives (stable_end).
        end = min(start + norm.offsets[n - hold], start + stable_end(tail, self.normalize))
        if end <= start:
            return start
        # Keep back a trailing ASCII token that may still be growing.
        if end == len(self._buf) or self._buf[end] in _TOKEN_CHARS:
            limit = max(start, end - MAX_TOKEN_HOLD)
            while end > limit and self._buf[end - 1] in _TOKEN_CHARS:
                end -= 1
        return end
