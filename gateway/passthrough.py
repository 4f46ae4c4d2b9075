"""Other ``/v1/*`` routes (models, embeddings, ...) passed to the upstream unchanged.

The response is streamed back as it arrives; only the path under ``/v1`` comes from the
client, never the host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.body import read_body
from gateway.errors import GatewayError, InvalidRequest, error_response
from gateway.proxy import authenticate
from gateway.state import AppState

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length",
               "content-encoding", "upgrade", "proxy-authenticate", "te", "trailer",
               "set-cookie"}  # fmt: skip


async def passthrough(request: Request) -> Response:
    state: AppState = request.app.state.gateway
    path = request.path_params.get("path", "")
    if ".." in path.split("/") or path.startswith("/"):
        return error_response(InvalidRequest("Invalid path."))
    try:
        policies = state.pipeline.policies
        authenticate(request, policies)
        body = await read_body(request, state.settings.max_body_bytes)
        upstream = state.upstream
        headers = upstream.headers(request.headers, client_auth=not policies.requires_key)
        resp = await upstream.open_request(
            request.method, "/" + path, body or None, headers, request.url.query
        )
    except GatewayError as e:
        state.metrics.requests.labels(route="passthrough", status=str(e.status)).inc()
        return error_response(e)
    state.metrics.requests.labels(route="passthrough", status=str(resp.status)).inc()
    out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_BY_HOP}

    async def body_iter() -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.content.iter_chunked(64 * 1024):
                yield chunk
        finally:
            resp.close()

    return StreamingResponse(body_iter(), status_code=resp.status, headers=out_headers)
