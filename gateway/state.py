"""What the lifespan builds once and every handler uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.metrics import Metrics
from gateway.pipeline import Pipeline
from gateway.policy.holder import PolicyHolder
from gateway.policy.reloader import PolicyReloader
from gateway.recording import Recorder
from gateway.sanctions import SanctionStore
from gateway.settings import Settings
from gateway.upstream import Upstream

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
    reports: Reports | None = None  # complaints and reports, unless switched off
