"""What the lifespan builds once and every handler uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.audit.recording import Recorder
from gateway.http.upstream import Upstream
from gateway.metrics import Metrics
from gateway.moderation.pipeline import Pipeline
from gateway.moderation.sanctions import SanctionStore
from gateway.policy.holder import PolicyHolder
from gateway.policy.reloader import PolicyReloader
from gateway.settings import Settings


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
