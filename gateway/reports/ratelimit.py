"""Fixed-window rate limits for reports and the public report pages.

With Redis configured every replica counts in the same windows (``SET NX EX`` starts a
window, ``INCR`` counts in it); without it, or while Redis is down, each process counts
on its own, bounded in the number of keys it remembers. Keys are hashed with the
pseudonym key first, so neither Redis nor memory holds raw user ids or IP addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from gateway.policy.model import RateLimit

log = logging.getLogger("gateway.reports")
MAX_KEYS = 100_000


class MemoryWindows:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS):
        self._clock = clock
        self._max = max_keys
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def hit(self, key: str, limit: RateLimit) -> float | None:
        """Count one event; None if allowed, else seconds until the window ends."""
        now = self._clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= limit.seconds:
            start, count = now, 0
        if count >= limit.count:
            return max(start + limit.seconds - now, 0.0)
        self._windows[key] = (start, count + 1)
        self._windows.move_to_end(key)
        while len(self._windows) > self._max:
            self._windows.popitem(last=False)
        return None


class RateLimiter:
    def __init__(self, secret: str, redis: Any | None = None, prefix: str = "gw") -> None:
        self._secret = secret.encode()
        self._redis = redis
        self._prefix = f"{prefix}:reports:rl"
        self._memory = MemoryWindows()

    def _key(self, bucket: str, ident: str, limit: RateLimit) -> str:
        digest = hmac.new(self._secret, ident.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{self._prefix}:{bucket}:{limit.seconds}:{digest}"

    async def hit(self, bucket: str, ident: str, limit: RateLimit) -> float | None:
        """Count one event for ``ident`` in ``bucket``; None if allowed, else the seconds
        to wait (for ``Retry-After``)."""
        key = self._key(bucket, ident, limit)
        if self._redis is not None:
            try:
                return await self._redis_hit(self._redis, key, limit)
            except Exception as e:  # Redis down: limit per process rather than not at all
                log.warning("report rate limit: Redis unavailable (%s), counting locally", e)
        return self._memory.hit(key, limit)

    @staticmethod
    async def _redis_hit(redis: Any, key: str, limit: RateLimit) -> float | None:
        pipe = redis.pipeline(transaction=False)
        pipe.set(key, 0, ex=limit.seconds, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = await pipe.execute()
        if int(count) <= limit.count:
            return None
        return float(ttl) if ttl and ttl > 0 else float(limit.seconds)


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
