"""When the classifier judges a stream, and what its verdict does to text already sent.

Keywords are checked before any text leaves (the stream moderator's hold-back makes that
leak-free); a classifier needs context, so it judges the answer so far (the last
``stream.classifier_window_chars`` characters), not before it holds ``classifier_min_chars``
Chinese characters or ``classifier_min_chars_latin`` characters of any kind (letters, spaces
and markup carry less meaning each than a Chinese character), unless the stream has ended.
Counting Chinese characters, not characters, matters for mixed answers: "**杀猪盘
(pig-butchering scam)** 的名字来自骗子的黑话" is 40 characters with 13 Chinese ones, and the
model scored that opening of an anti-scam answer over its threshold. Two policies (``stream.classifier_gate``):

- ``retract`` (default): text is released once the keywords pass; the classifier judges it
  right after, off the release path. A block stops the stream, and the closing chunk tells
  the client to withdraw what it showed (``moderation.retract``), as Chinese chat services
  do. Cost: exposure of at most one check interval of text, for a few milliseconds.
- ``hold``: text is released only after the classifier has passed it. Cost: time to first
  token grows by ``classifier_min_chars`` characters at the model's pace (at 40 tokens/s,
  about 20 ms per character).

Background verdicts are bounded: at most ``max_in_flight`` checks run per stream; a new one
waits for the oldest, so a slow classifier slows the stream instead of being skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from gateway.decision import Decision
from gateway.moderation.language import han_count

Check = Callable[[Sequence[str]], Awaitable[Decision]]


class ClassifierGate:
    def __init__(
        self,
        check: Check,
        *,
        retract: bool,
        min_chars: int,
        min_chars_latin: int | None = None,
        max_in_flight: int = 2,
    ) -> None:
        self._check = check
        self.retract = retract
        self.min_chars = min_chars
        self.min_chars_latin = min_chars if min_chars_latin is None else min_chars_latin
        self._max = max_in_flight
        self._running: list[asyncio.Task[Decision]] = []
        self.decisions: list[Decision] = []  # every verdict, for the record

    def ready(self, answer: str, final: bool) -> bool:
        """Enough of the answer (the text so far) exists for the classifier to judge it."""
        n = len(answer)
        if final or n >= self.min_chars_latin:
            return True
        if n < self.min_chars:
            return False
        # Only answers shorter than the latin minimum are counted, once per check.
        return han_count(answer) >= self.min_chars

    async def submit(self, texts: Sequence[str]) -> Decision | None:
        """Judge ``texts`` in the background; returns a blocking verdict that finished
        meanwhile (or while waiting for room), if any."""
        blocked = self.verdict()
        while len(self._running) >= self._max and blocked is None:
            await asyncio.wait([self._running[0]])
            blocked = self.verdict()
        if blocked is None:
            self._running.append(asyncio.ensure_future(self._check(list(texts))))
        return blocked

    def verdict(self) -> Decision | None:
        """The first blocking verdict among the checks that have finished."""
        blocked = None
        still = []
        for task in self._running:
            if not task.done():
                still.append(task)
                continue
            decision = task.result()
            self.decisions.append(decision)
            if decision.blocked and blocked is None:
                blocked = decision
        self._running = still
        return blocked

    async def drain(self) -> Decision | None:
        """Wait for every check in flight (the stream is ending); a blocking verdict wins."""
        if self._running:
            await asyncio.wait(self._running)
        return self.verdict()

    def cancel(self) -> None:
        for task in self._running:
            task.cancel()
        self._running = []
