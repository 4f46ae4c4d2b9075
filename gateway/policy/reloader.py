"""Hot reload: watch the policy files, and share new versions between replicas via Redis.

Locally, the files are checked every ``policy_reload_interval`` seconds (size and mtime of
the policy and every term file); a change is validated and swapped in by the holder, an
invalid file is refused and the old version stays. With Redis configured, a replica that
takes a new version stores the whole bundle (policy and term files) under
``<prefix>:policy:bundle:<version>`` and publishes the version on ``<prefix>:policy``; the others fetch
the bundle, validate it the same way and swap it in, so replicas converge within about a
second even when their own copies of the files lag (a Kubernetes ConfigMap can take a
minute).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson

from gateway.policy.holder import PolicyHolder

log = logging.getLogger("gateway.policy")
BUNDLE_TTL = 7 * 86400


def _fingerprint(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(p), -1, -1))
    return tuple(out)


class PolicyReloader:
    def __init__(
        self,
        holder: PolicyHolder,
        interval: float,
        redis: Any | None,
        cache_dir: Path,
        prefix: str = "gw",
    ) -> None:
        self.holder = holder
        self.channel = f"{prefix}:policy"
        self.bundle_key = f"{prefix}:policy:bundle:"
        self.interval = interval
        self.redis = redis
        self.cache_dir = cache_dir
        self._tasks: list[asyncio.Task[None]] = []
        self._seen = _fingerprint(self._watched())

    def _watched(self) -> list[Path]:
        return [self.holder.path, *self.holder.files()]

    async def start(self) -> None:
        if self.interval > 0:
            self._tasks.append(asyncio.create_task(self._watch_files(), name="policy-watch"))
        if self.redis is not None:
            await self.announce()
            self._tasks.append(asyncio.create_task(self._listen(), name="policy-listen"))

    async def aclose(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()

    async def _watch_files(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            current = _fingerprint(self._watched())
            if current == self._seen:
                continue
            self._seen = current
            changed = await asyncio.to_thread(self.holder.reload)
            self._seen = _fingerprint(self._watched())
            if changed and self.redis is not None:
                await self.announce()

    async def announce(self) -> None:
        """Store the live bundle in Redis and announce its version to the other replicas
        (the file watcher calls this after a local change; the console after a publish)."""
        assert self.redis is not None
        version = self.holder.current.version
        try:
            bundle = orjson.dumps(self.holder.bundle())
            await self.redis.set(self.bundle_key + version, bundle, ex=BUNDLE_TTL)
            await self.redis.publish(self.channel, version)
        except Exception as e:
            log.warning("could not publish policy %s to Redis: %s", version, type(e).__name__)

    async def _listen(self) -> None:
        assert self.redis is not None
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    version = message["data"]
                    version = version.decode() if isinstance(version, bytes) else str(version)
                    if version != self.holder.current.version:
                        await self._adopt(version)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("policy channel lost (%s); retrying", type(e).__name__)
                await asyncio.sleep(1.0)

    async def _adopt(self, version: str) -> None:
        raw = await self.redis.get(self.bundle_key + version) if self.redis is not None else None
        if raw is None:
            log.warning("policy %s announced but its bundle is missing", version)
            return
        files: dict[str, str] = orjson.loads(raw)
        await asyncio.to_thread(self.holder.adopt_bundle, version, files, self.cache_dir)
