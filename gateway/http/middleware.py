"""The one middleware every request passes: canonical path, decision id, request metrics.

Pure ASGI (no ``BaseHTTPMiddleware``), so streamed responses pass through untouched and a
request's duration is taken when its last body byte is sent, streams included. Errors are
translated in one place too, by the app's exception handlers (``gateway.http.routes``).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import InvalidPath, error_response
from gateway.http.paths import MODERATED_LABELS, path_problem, route_label
from gateway.metrics import Metrics
from gateway.moderation.pipeline import new_decision_id

DECISION_HEADER = "X-Gateway-Decision-Id"
_DECISION_HEADER_RAW = DECISION_HEADER.lower().encode()
SCOPE_DECISION_ID = "gateway.decision_id"


def decision_id_of(scope: Scope) -> str:
    """The decision id the middleware gave this request (a fresh one outside it)."""
    found = scope.get(SCOPE_DECISION_ID)
    return found if isinstance(found, str) else new_decision_id()


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # Label lookups cost about a microsecond each; the hot path reuses the children.
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        raw: bytes = scope.get("raw_path") or path.encode("utf-8", "replace")
        problem = path_problem(raw, path)
        label = route_label(path)
        # Moderated routes answer with the id of their decision (the log's key).
        decision_id = new_decision_id() if label in MODERATED_LABELS else None
        scope[SCOPE_DECISION_ID] = decision_id
        started = time.perf_counter()
        status = 500
        done = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, done
            if message["type"] == "http.response.start":
                status = message["status"]
                if decision_id is not None:
                    headers = list(message.get("headers", []))
                    if not any(k.lower() == _DECISION_HEADER_RAW for k, _ in headers):
                        headers.append((_DECISION_HEADER_RAW, decision_id.encode()))
                    message["headers"] = headers
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                if label is not None and not done:
                    done = True
                    self._observe(label, status, started)
            await send(message)

        try:
            if problem is not None:
                err = InvalidPath(f"Invalid request path: {problem}.")
                await error_response(err)(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            if label is not None and not done:  # the client left before the end
                done = True
                self._observe(label, status, started)

    def _observe(self, route: str, status: int, started: float) -> None:
        key = (route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.metrics.requests.labels(route=route, status=str(status)),
                self.metrics.request_duration.labels(route=route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(time.perf_counter() - started)
