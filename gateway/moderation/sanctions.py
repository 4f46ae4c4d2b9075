"""User sanctions (Interim Measures Art. 14(2); TC260-003 §7 g) 1)), counted in Redis.

Every gateway replica shares the counts. Per end user (pseudonymised with a keyed hash, so
Redis never holds raw user ids) the store keeps the times of recent input violations in a
sorted set, a run counter of consecutive violations, and warning / restriction /
suspension flags with their expiry. Redis being down never stops traffic: the state reads
as "ok", the failure is counted (``gateway_fail_open_total{reason="redis"}``) and logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from typing import Any

from gateway.metrics import Metrics
from gateway.policy.engine import UserStatus
from gateway.policy.model import SanctionSpec

log = logging.getLogger("gateway.moderation.sanctions")
_PREFIX = "gw:sanction"


class SanctionStore:
    def __init__(self, redis: Any, key: bytes, metrics: Metrics, prefix: str = _PREFIX) -> None:
        self._redis = redis  # redis.asyncio.Redis
        self._key = key
        self._metrics = metrics
        self._prefix = prefix

    def _user(self, tenant: str, user: str) -> str:
        digest = hmac.new(self._key, f"{tenant}\0{user}".encode(), hashlib.sha256).hexdigest()
        return f"{self._prefix}:{digest[:32]}"

    async def status(self, tenant: str, user: str | None, spec: SanctionSpec) -> UserStatus:
        if not spec.enabled or not user:
            return "ok"
        base = self._user(tenant, user)
        try:
            suspended, restricted, warned = await self._redis.mget(
                f"{base}:suspended", f"{base}:restricted", f"{base}:warned"
            )
        except Exception as e:  # Redis down must not stop traffic
            self._unavailable(e)
            return "ok"
        if suspended:
            return "suspended"
        if restricted:
            return "restricted"
        if warned:
            return "warned"
        return "ok"

    async def observe(
        self, tenant: str, user: str | None, spec: SanctionSpec, violation: bool,
        now: float | None = None,
    ) -> UserStatus | None:  # fmt: skip
        """Count one input decision; return a sanction newly applied, if any."""
        if not spec.enabled or not user:
            return None
        base = self._user(tenant, user)
        run_key = f"{base}:run"
        try:
            if not violation:
                await self._redis.delete(run_key)
                return None
            now = time.time() if now is None else now
            longest = max(
                (w.seconds for w in (spec.warn_after, spec.restrict_after, spec.suspend_after)
                 if w is not None), default=86400,
            )  # fmt: skip
            events = f"{base}:events"
            pipe = self._redis.pipeline(transaction=True)
            pipe.zadd(events, {f"{now}:{uuid.uuid4().hex[:8]}": now})
            pipe.zremrangebyscore(events, "-inf", now - longest)
            pipe.expire(events, longest)
            pipe.incr(run_key)
            pipe.expire(run_key, longest)
            for window in (spec.warn_after, spec.restrict_after, spec.suspend_after):
                if window is not None:
                    pipe.zcount(events, now - window.seconds, "+inf")
            results = await pipe.execute()
            run = int(results[3])
            counts = iter(results[5:])
            applied: UserStatus | None = None
            tiers = (("warned", spec.warn_after), ("restricted", spec.restrict_after),
                     ("suspended", spec.suspend_after))  # fmt: skip
            for name, window in tiers:
                if window is not None and int(next(counts)) >= window.count:
                    applied = name  # type: ignore[assignment]
            if spec.consecutive_suspend is not None and run >= spec.consecutive_suspend:
                applied = "suspended"
            if applied is not None:
                await self._redis.set(f"{base}:{applied}", "1", ex=spec.suspend_seconds)
            return applied
        except Exception as e:
            self._unavailable(e)
            return None

    async def lift(self, tenant: str, user: str) -> None:
        """Remove every sanction and count for a user (an administrator's decision)."""
        base = self._user(tenant, user)
        await self._redis.delete(*(f"{base}:{k}" for k in
                                   ("suspended", "restricted", "warned", "run", "events")))  # fmt: skip

    def _unavailable(self, e: Exception) -> None:
        self._metrics.fail_open.labels(reason="redis").inc()
        log.warning("sanction store unavailable (%s); treating the user as in good standing",
                    type(e).__name__)  # fmt: skip
