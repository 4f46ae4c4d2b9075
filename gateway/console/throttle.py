"""Failed-login throttling: a password cannot be guessed faster than a few tries per
quarter hour per account. In memory, per process, bounded in the number of names kept."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(
        self,
        limit: int = 5,
        window_s: float = 900.0,
        max_names: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit, self._window, self._max = limit, window_s, max_names
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, name: str) -> deque[float]:
        times = self._failures.get(name)
        if times is None:
            return deque()
        cutoff = self._clock() - self._window
        while times and times[0] < cutoff:
            times.popleft()
        return times

    def blocked(self, name: str) -> bool:
        """True while ``name`` has ``limit`` failures inside the window."""
        return len(self._recent(name)) >= self._limit

    def failed(self, name: str) -> None:
        times = self._recent(name)
        times.append(self._clock())
        self._failures[name] = times
        self._failures.move_to_end(name)
        while len(self._failures) > self._max:
            self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        self._failures.pop(name, None)
