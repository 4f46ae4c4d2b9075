"""What the exchange hands a stream relay: the pipeline, the request's context, the
recorder, the upstream response and the input decision."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.audit.recording import Recorder, RequestInfo
from gateway.decision import Decision
from gateway.metrics import Metrics
from gateway.moderation.labels import Labeler
from gateway.moderation.pipeline import CheckContext, Pipeline
from gateway.shadow import Shadow


@dataclass(slots=True)
class StreamDeps:
    """What the exchange hands a relay."""

    pipeline: Pipeline
    ctx: CheckContext
    info: RequestInfo
    recorder: Recorder
    metrics: Metrics
    labeler: Labeler
    upstream: aiohttp.ClientResponse
    pending: asyncio.Future[None] | None = None  # the input record, still committing
    spawn: Callable[[Coroutine[Any, Any, None]], None] | None = None
    input_decision: Decision | None = None
    report: bool = False  # the client asked for the moderation field
    enforce: bool = True  # False: "score" mode, verdicts reported, not enforced
    model_name: str = ""
    single_moderation: bool = False  # the Responses API's shape of the moderation field
    shadow: Shadow | None = None  # sees the stream's final decision (console shadow runs)
