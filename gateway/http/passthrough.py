"""``/v1/*`` routes that carry no prompts and no generated text, passed to the upstream.

Only an allow-list passes (the policy's ``routes.passthrough``: by default listing models
and making embeddings). Every other ``/v1`` route is refused with a clear error, since it
may carry text the gateway does not moderate (assistants, batches, audio, files ...). The
response is streamed back as it arrives; only the path under ``/v1`` comes from the
client, never the host, and redirects are never followed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.errors import RouteNotModerated
from gateway.http.auth import authenticate
from gateway.http.body import read_body
from gateway.http.state import AppState
from gateway.http.upstream import upstream_error

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length",
               "content-encoding", "upgrade", "proxy-authenticate", "te", "trailer",
               "set-cookie", "location"}  # fmt: skip


def allowed(patterns: tuple[str, ...], method: str, path: str) -> bool:
    """``path`` (``/v1/...``, canonical) matches an entry ``METHOD /v1/...``, where a final
    ``*`` stands for exactly one more segment."""
    for entry in patterns:
        want_method, _, want_path = entry.partition(" ")
        if want_method != method:
            continue
        if want_path.endswith("/*"):
            head = want_path[:-1]
            rest = path[len(head) :]
            if path.startswith(head) and rest and "/" not in rest:
                return True
        elif path == want_path:
            return True
    return False


async def passthrough(request: Request) -> Response:
    state: AppState = request.app.state.gateway
    policies = state.pipeline.policies
    tenant = authenticate(request, policies)
    path = request.url.path
    patterns = policies.for_tenant(tenant).policy.routes.passthrough
    if not allowed(patterns, request.method, path):
        raise RouteNotModerated(
            f"The gateway does not pass {request.method} {path} to the upstream: only routes "
            "that carry no prompts or generated text are passed through (policy "
            "routes.passthrough)."
        )
    body = await read_body(request, state.settings.max_body_bytes)
    upstream = state.upstream
    headers = upstream.headers(request.headers, client_auth=not policies.requires_key)
    resp = await upstream.open_request(
        request.method, path.removeprefix("/v1"), body or None, headers, request.url.query
    )
    if resp.status >= 300:
        try:
            payload = await resp.read()
        except Exception as e:
            raise upstream.translate(e) from e
        finally:
            resp.close()
        upstream.count_status(resp.status)
        return upstream_error(resp.status, payload, dict(resp.headers), {})
    out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_BY_HOP}

    async def body_iter() -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.content.iter_chunked(64 * 1024):
                yield chunk
        finally:
            resp.close()

    return StreamingResponse(body_iter(), status_code=resp.status, headers=out_headers)
