"""Login throttling, in memory, per process, bounded in the number of names and addresses
kept: a password cannot be guessed faster than a few tries per quarter hour per account
(``LoginThrottle``), and no address, nor all of them together, can make the gateway hash
passwords faster than a small rate (``AttemptLimiter``)."""

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


class _Bucket:
    __slots__ = ("at", "tokens")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens, self.at = tokens, at


class AttemptLimiter:
    """Login attempts allowed per source address and in all, checked before any password
    hashing: scrypt costs ~50 ms of CPU, so unthrottled attempts with random user names
    would starve the gateway's request path. Token buckets: ``burst`` attempts at once,
    then ``per_second``; a successful login gives its address token back."""

    def __init__(
        self,
        *,
        burst: int = 20,
        per_second: float = 1 / 3,
        global_burst: int = 16,
        global_per_second: float = 8.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst, self._rate = burst, per_second
        self._gburst, self._grate = global_burst, global_per_second
        self._max, self._clock = max_addresses, clock
        self._addresses: OrderedDict[str, _Bucket] = OrderedDict()
        self._global = _Bucket(float(global_burst), clock())

    def _fill(self, bucket: _Bucket, burst: int, rate: float, now: float) -> None:
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now

    def admit(self, address: str) -> bool:
        """Take one attempt for ``address``; False (and nothing taken) when over a limit."""
        now = self._clock()
        bucket = self._addresses.get(address)
        if bucket is None:
            bucket = _Bucket(float(self._burst), now)
        self._fill(bucket, self._burst, self._rate, now)
        self._fill(self._global, self._gburst, self._grate, now)
        if bucket.tokens < 1 or self._global.tokens < 1:
            return False
        bucket.tokens -= 1
        self._global.tokens -= 1
        self._addresses[address] = bucket
        self._addresses.move_to_end(address)
        while len(self._addresses) > self._max:
            self._addresses.popitem(last=False)
        return True

    def refund(self, address: str) -> None:
        bucket = self._addresses.get(address)
        if bucket is not None:
            bucket.tokens = min(float(self._burst), bucket.tokens + 1)
