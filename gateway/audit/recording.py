"""The seam between the request path and the decision log.

The HTTP layer records every final decision through a ``Recorder`` before the response
ends; ``gateway.audit.recorder.AuditRecorder`` is the real one, ``NullRecorder`` the one
used when the log is switched off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.decision import Decision


@dataclass(slots=True)
class RequestInfo:
    """Request facts the decision log keeps beside the decision (never secrets)."""

    route: str
    request_id: str
    tenant: str = "default"
    user: str | None = None  # raw end-user id; the log stores only a keyed hash
    model: str = ""
    started: float = 0.0  # perf_counter at arrival
    timings_ms: dict[str, float] = field(default_factory=dict)


class Recorder(Protocol):
    async def record(
        self,
        decision: Decision,
        info: RequestInfo,
        texts: Sequence[str],
        *,
        incident: bool = False,
    ) -> None:
        """Persist one decision; return only once it is durable (or spooled)."""
        ...


class NullRecorder:
    async def record(
        self,
        decision: Decision,
        info: RequestInfo,
        texts: Sequence[str],
        *,
        incident: bool = False,
    ) -> None:
        return None
