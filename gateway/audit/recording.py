"""The seam between the request path and the decision log.

The HTTP layer records every final decision through a ``Recorder`` before the response
ends; ``gateway.audit.recorder.AuditRecorder`` is the real one, ``NullRecorder`` the one
used when the log is switched off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from gateway.decision import Decision


class Ending(StrEnum):
    """How the exchange a decision belongs to ended; every output record names one, so
    an answer cut short is never mistaken for a complete one."""

    NONE = ""  # input records: the request was checked, nothing ended yet
    COMPLETE = "complete"  # the answer reached the client whole
    BLOCKED = "blocked"  # moderation replaced the answer or stopped the stream
    CLIENT_GONE = "client_disconnected"  # the client left mid-stream
    UPSTREAM_FAILED = "upstream_failed"  # the upstream was unreachable or broke mid-answer
    UPSTREAM_ERROR = "upstream_error"  # an error status or an in-band error event
    LOG_UNAVAILABLE = "log_unavailable"  # refused: the decision log could not keep a record


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
        ending: Ending = Ending.NONE,
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
        ending: Ending = Ending.NONE,
    ) -> None:
        return None
