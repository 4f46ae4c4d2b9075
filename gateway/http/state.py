"""What the lifespan builds once and every handler uses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.audit.recording import Recorder
from gateway.http.upstream import Upstream
from gateway.metrics import Metrics
from gateway.moderation.pipeline import Pipeline
from gateway.moderation.sanctions import SanctionStore
from gateway.policy.holder import PolicyHolder
from gateway.policy.reloader import PolicyReloader
from gateway.settings import Settings
from gateway.shadow import Shadow

if TYPE_CHECKING:
    from gateway.reports.service import Reports


@dataclass(slots=True)
class AppState:
    settings: Settings
    metrics: Metrics
    policies: PolicyHolder
    pipeline: Pipeline
    upstream: Upstream
    recorder: Recorder
    sanctions: SanctionStore | None = None
    audit_store: Any | None = None  # gateway.audit.store.AuditStore when the log is on
    redis: Any | None = None  # redis.asyncio.Redis when GATEWAY_REDIS_URL is set
    reloader: PolicyReloader | None = None
    decision_log: Any | None = None  # gateway.audit.service.DecisionLog when the log is on
    reports: Reports | None = None  # complaints and reports, unless switched off
    shadow: Shadow = field(default_factory=lambda: Shadow(None))  # draft beside live (console)
    # Work that must finish although its request is gone (the record of a stream whose
    # client left); the lifespan waits for it before closing the decision log.
    background: set[asyncio.Task[None]] = field(default_factory=set)

    async def drain(self) -> None:
        """Wait for the background work (the lifespan's first step at shutdown)."""
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", exc_info=task.exception())

    @property
    def log_down(self) -> bool:
        """The decision log's store failed its last write (records may be spooling)."""
        return self.decision_log is not None and not self.decision_log.writer.store_available

    @property
    def log_refuses(self) -> bool:
        """The decision log is known to be down, the policy says fail closed, and it is not
        yet time to try the store again: refuse at once, before the upstream is called."""
        if not self.log_down:
            return False
        writer = self.decision_log.writer  # type: ignore[union-attr]
        return not writer.fail_open and not writer.retry_due


log = logging.getLogger("gateway")
