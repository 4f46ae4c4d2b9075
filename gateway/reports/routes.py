"""``POST /v1/reports`` and ``GET /v1/reports/{id}``: complaints from the provider's apps.

Authenticated like every ``/v1`` route (``gateway.http.auth.authenticate``): with tenants
configured, the key decides the tenant, and a tenant only ever reaches its own decisions
and tickets. Errors are OpenAI-shaped; a refused rate limit carries ``Retry-After``.
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import GatewayError, InvalidRequest, NotFound, RateLimited, error_response
from gateway.http.auth import authenticate
from gateway.http.body import parse_json_object, read_body
from gateway.http.responses import JSONResponse
from gateway.http.state import AppState
from gateway.reports.ratelimit import retry_after_header
from gateway.reports.service import Filed, Reports
from gateway.reports.validation import parse_report
from gateway.reports.views import public_view

MAX_BODY_BYTES = 64 * 1024  # a report is a few short fields and at most one pasted answer


def client_address(request: Request) -> str:
    # uvicorn sets the client from X-Forwarded-For only for proxies it is told to trust
    # (--forwarded-allow-ips), so this cannot be spoofed by a header.
    return request.client.host if request.client is not None else "unknown"


def _reports(state: AppState, tenant: str) -> Reports:
    reports = state.reports
    if reports is None or not reports.spec(tenant).enabled:
        raise NotFound("Complaints and reports are not enabled on this gateway.")
    return reports


def _count(state: AppState, status: int) -> None:
    state.metrics.requests.labels(route="reports", status=str(status)).inc()


def _failed(state: AppState, e: GatewayError) -> Response:
    _count(state, e.status)
    headers = retry_after_header(e.retry_after) if isinstance(e, RateLimited) else None
    return error_response(e, headers)


def filed_body(filed: Filed, request: Request, hours: float) -> dict[str, object]:
    base = str(request.base_url)
    t = filed.ticket
    return {
        "id": t.id, "object": "report", "status": t.status, "merged": filed.merged,
        "token": filed.token, "reason": t.reason, "categories": list(t.categories),
        "created": int(t.created), "due": int(t.due), "response_hours": hours,
        "status_url": base + "report/status", "process_url": base + "report/process",
    }  # fmt: skip


async def create_report(request: Request) -> Response:
    state: AppState = request.app.state.gateway
    try:
        tenant = authenticate(request, state.pipeline.policies)
        reports = _reports(state, tenant)
        spec = reports.spec(tenant)
        body = parse_json_object(await read_body(request, MAX_BODY_BYTES))
        header_user = request.headers.get(state.settings.user_header, "")[:256]
        user = body.get("user") if isinstance(body.get("user"), str) else header_user
        await reports.limit(spec, client_address(request), str(user or ""), tenant)
        report = parse_report(body, spec)
        if not report.user and header_user:
            report = dataclasses.replace(report, user=header_user)
        filed = await reports.file(tenant, report, source="api", default_tenant=tenant)
    except GatewayError as e:
        return _failed(state, e)
    _count(state, 200)
    return JSONResponse(filed_body(filed, request, spec.hours_for(report.reason)))


async def get_report(request: Request) -> Response:
    state: AppState = request.app.state.gateway
    try:
        tenant = authenticate(request, state.pipeline.policies)
        reports = _reports(state, tenant)
        token = request.query_params.get("token") or request.headers.get("x-report-token", "")
        if not token:
            raise InvalidRequest(
                "Missing required parameter: 'token' (the token returned when the report "
                "was filed).",
                param="token",
            )
        wait = await reports.limit_views(client_address(request))
        if wait is not None:
            raise RateLimited("Too many lookups; try again later.", retry_after=wait)
        ticket = await reports.lookup(request.path_params["report_id"], token, tenant)
        if ticket is None:
            raise NotFound("No report with this id and token.")
    except GatewayError as e:
        return _failed(state, e)
    _count(state, 200)
    return JSONResponse(public_view(ticket, reports.now()))


def api_routes() -> list[Route]:
    """Add these before the ``/v1/{path:path}`` pass-through."""
    return [
        Route("/v1/reports", create_report, methods=["POST"]),
        Route("/v1/reports/{report_id}", get_report, methods=["GET"]),
    ]
