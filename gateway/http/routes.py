"""The route table and the one place errors become responses.

Moderated routes each name their API shape; the pass-through takes only the allow-listed
``/v1`` routes and refuses the rest. Every route passes the ``GatewayMiddleware`` (canonical
path, decision id, request metrics) before it runs.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.classifier import describe
from gateway.errors import GatewayError, MethodNotAllowed, NotFound, error_response
from gateway.http import exchange
from gateway.http.apis.chat import CHAT
from gateway.http.apis.responses_api import RESPONSES
from gateway.http.apis.text import TEXT_COMPLETIONS
from gateway.http.moderations import moderations
from gateway.http.passthrough import passthrough
from gateway.http.responses import JSONResponse
from gateway.http.state import AppState
from gateway.metrics import exposition

log = logging.getLogger("gateway")
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready unless the decision log is down while the policy says fail closed: then every
    moderated request would be refused, and a load balancer should send traffic elsewhere."""
    state: AppState = request.app.state.gateway
    active = state.policies.current.base
    cascade = state.pipeline.cascade
    first, second = await describe(
        state.pipeline.classifier, cascade.second if cascade is not None else None
    )
    log_ok = not state.log_down
    refusing = state.log_down and not active.policy.audit.fail_open
    return JSONResponse(
        {
            "status": "not_ready" if refusing else "ready",
            "decision_log": "ok" if log_ok else ("down" if refusing else "down, spooling"),
            "policy": {
                "name": active.policy.name,
                "version": active.version,
                "tenants": sorted(state.policies.current.tenants),
                "path": str(state.policies.path),
                "terms": len(active.matcher),
            },
            # Served classifiers add their health; a classifier that is down does not make
            # the gateway unready (every replica shares it; the policy's fail mode decides).
            "classifier": first,
            "second_classifier": second,
        },
        status_code=503 if refusing else 200,
    )


async def metrics_endpoint(request: Request) -> Response:
    state: AppState = request.app.state.gateway
    if state.reports is not None:
        await state.reports.refresh_metrics()  # ticket counts as of this scrape
    return Response(exposition(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def api_routes() -> list[BaseRoute]:
    """The ``/v1`` routes and the probes; the caller adds the console and admin routes
    before them."""
    return [
        Route("/v1/chat/completions", exchange.endpoint(CHAT), methods=["POST"]),
        Route("/v1/completions", exchange.endpoint(TEXT_COMPLETIONS), methods=["POST"]),
        Route("/v1/responses", exchange.endpoint(RESPONSES), methods=["POST"]),
        Route("/v1/moderations", moderations, methods=["POST"]),
        Route("/v1/{path:path}", passthrough, methods=_METHODS),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFound(f"No route for {request.url.path}."))
    if exc.status_code == 405:
        return error_response(MethodNotAllowed(f"{request.method} is not allowed here."))
    return error_response(GatewayError(str(exc.detail)))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path)
    return error_response(GatewayError("The gateway failed to handle the request."))


# Starlette's exception handlers are the single translation point from errors to the wire.
EXCEPTION_HANDLERS: dict[Any, Any] = {
    GatewayError: _gateway_error,
    HTTPException: _http_error,
    Exception: _internal_error,
}
