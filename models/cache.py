"""Verdict cache: an in-process LRU in front of an optional Redis shared by replicas.

Keys are ``sha256(model version, text)``, so a new model never reads an old model's
verdicts. Redis is an accelerator, never a dependency: any Redis error is counted and the
request goes on to the model, and after an error Redis is skipped for ``backoff_s`` so a dead
server does not add a timeout to every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import orjson

from gateway.classifier import Scores
from gateway.metrics import Metrics

log = logging.getLogger(__name__)


class VerdictCache:
    """Bounded LRU (``max_entries``) plus optional Redis with a TTL: the app's own client
    (``redis``, keys under its deployment prefix) or one made from ``redis_url``."""

    def __init__(
        self,
        model_version: str,
        *,
        max_entries: int = 100_000,
        redis_url: str | None = None,
        redis: Any = None,
        redis_prefix: str = "gw:verdict:",
        ttl_s: int = 86_400,
        timeout_s: float = 0.05,
        backoff_s: float = 5.0,
        max_pending_writes: int = 64,
        metrics: Metrics | None = None,
    ) -> None:
        self._salt = model_version.encode() + b"\0"
        self._max = max_entries
        self._lru: OrderedDict[str, Scores] = OrderedDict()
        self._prefix = redis_prefix
        self._ttl = ttl_s
        self._timeout = timeout_s
        self._backoff = backoff_s
        self._skip_until = 0.0
        self._max_pending = max_pending_writes
        self._pending: set[asyncio.Task[None]] = set()
        self._metrics = metrics
        self.redis_errors = 0  # read by tests and info(); also classifier_cache_errors_total
        self._redis: Any = redis  # a pool the app owns (it closes it), or one made here
        self._owns_redis = False
        if redis is None and redis_url:
            self._owns_redis = True
            import redis.asyncio as aioredis  # only when configured

            self._redis = aioredis.Redis.from_url(
                redis_url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                max_connections=32,
            )

    def key(self, text: str) -> str:
        return hashlib.sha256(self._salt + text.encode("utf-8", "surrogatepass")).hexdigest()

    async def get_many(self, texts: Sequence[str]) -> list[Scores | None]:
        """Cached scores per text (``None`` for a miss); Redis hits are promoted to the LRU."""
        keys = [self.key(t) for t in texts]
        found: list[Scores | None] = []
        for k in keys:
            hit = self._lru.get(k)
            if hit is not None:
                self._lru.move_to_end(k)
                hit = dict(hit)  # callers may edit their copy; the cached one stays intact
            found.append(hit)
        missing = [i for i, hit in enumerate(found) if hit is None]
        if missing and self._redis_usable():
            raw = await self._redis_call(
                self._redis.mget, [self._prefix + keys[i] for i in missing]
            )
            for i, value in zip(missing, raw or [None] * len(missing), strict=True):
                if value is not None:
                    scores = orjson.loads(value)
                    self._remember(keys[i], scores)
                    found[i] = dict(scores)
        if self._metrics is not None:
            hits = sum(1 for f in found if f is not None)
            self._metrics.classifier_cache_hits.inc(hits)
            self._metrics.classifier_cache_misses.inc(len(found) - hits)
        return found

    def put_many(self, texts: Sequence[str], scores: Sequence[Scores]) -> None:
        """Store verdicts: the LRU at once, Redis in a bounded background write."""
        pairs = [(self.key(t), dict(s)) for t, s in zip(texts, scores, strict=True)]
        for k, s in pairs:
            self._remember(k, s)
        if pairs and self._redis_usable() and len(self._pending) < self._max_pending:
            task = asyncio.get_running_loop().create_task(self._write(pairs))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait for background Redis writes (tests, shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def aclose(self) -> None:
        await self.flush()
        if self._redis is not None and self._owns_redis:
            await self._redis.aclose()

    def __len__(self) -> int:
        return len(self._lru)

    def _remember(self, key: str, scores: Scores) -> None:
        self._lru[key] = scores
        self._lru.move_to_end(key)
        while len(self._lru) > self._max:
            self._lru.popitem(last=False)

    async def _write(self, pairs: list[tuple[str, Scores]]) -> None:
        def build(pipe: Any) -> Any:
            for k, s in pairs:
                pipe.set(self._prefix + k, orjson.dumps(s), ex=self._ttl)
            return pipe.execute()

        async def run() -> Any:
            async with self._redis.pipeline(transaction=False) as pipe:
                return await build(pipe)

        await self._redis_call(run)

    def _redis_usable(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._skip_until

    async def _redis_call(self, fn: Any, *args: Any) -> Any:
        try:
            async with asyncio.timeout(self._timeout * 2):
                return await fn(*args)
        except Exception as exc:  # any Redis trouble: count it and go on without Redis
            self.redis_errors += 1
            if self._metrics is not None:
                self._metrics.classifier_cache_errors.inc()
            self._skip_until = time.monotonic() + self._backoff
            log.warning(
                "verdict cache: Redis unavailable (%s); skipping it for %ss", exc, self._backoff
            )
            return None
