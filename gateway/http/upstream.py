"""The one pooled client for the upstream LLM, and the translation of its failures.

Clients never choose the upstream: the base URL comes from settings, and only the path of
a known route is appended. Redirects are never followed (a 3xx would re-send a checked body
somewhere unchecked). Failures become ``UpstreamError`` subclasses (502/504); an upstream's
own 4xx/5xx JSON error body is passed through with its status, and a rate limit (429)
always reaches the client as a 429 with its ``Retry-After`` and ``x-ratelimit-*`` headers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
import orjson
from starlette.responses import Response

from gateway.errors import (
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    error_response,
)
from gateway.metrics import Metrics
from gateway.settings import Settings

# Request headers worth forwarding; everything else (cookies, hop-by-hop headers, the
# gateway's own auth) stays here.
_FORWARD = ("content-type", "accept", "openai-organization", "openai-project", "x-request-id")
# Response headers worth returning for pass-through routes.
_RETURN = ("content-type", "x-request-id", "openai-processing-ms", "openai-model")
# Rate-limit headers a client needs to back off properly; returned with every upstream
# error and with successful answers.
_RATE_LIMIT_PREFIX = "x-ratelimit-"
_RETRY_AFTER = ("retry-after", "retry-after-ms")


@dataclass(slots=True)
class UpstreamReply:
    status: int
    headers: dict[str, str]
    body: bytes


class Upstream:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.base = settings.upstream_url
        key = settings.upstream_api_key
        self._auth = f"Bearer {key.get_secret_value()}" if key is not None else None
        self._metrics = metrics
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.upstream_connect_timeout,
            sock_read=settings.upstream_read_timeout,
        )
        self._limit = settings.upstream_max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._limit, keepalive_timeout=30, enable_cleanup_closed=True
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def headers(self, incoming: Mapping[str, str], client_auth: bool = True) -> dict[str, str]:
        """Headers for the upstream. ``client_auth`` False when the client's key is a
        gateway (tenant) key, which must not travel further."""
        out = {k: incoming[k] for k in _FORWARD if k in incoming}
        if self._auth is not None:
            out["Authorization"] = self._auth
        elif client_auth and (client_auth_value := incoming.get("authorization")) is not None:
            # No key configured: the client's own key is meant for the upstream.
            out["Authorization"] = client_auth_value
        return out

    def _url(self, path: str) -> str:
        return self.base + path

    async def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str],
        query: str = "",
    ) -> UpstreamReply:  # fmt: skip
        """A whole (non-streamed) exchange."""
        assert self._session is not None, "Upstream.start() was not called"
        url = self._url(path) + (f"?{query}" if query else "")
        started = time.perf_counter()
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                payload = await resp.read()
                self._metrics.upstream_duration.observe(time.perf_counter() - started)
                return UpstreamReply(resp.status, _returned(resp.headers), payload)
        except Exception as e:
            raise self._translate(e) from e

    async def open_stream(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> aiohttp.ClientResponse:
        """Start a streamed exchange; the caller must ``close()`` it."""
        return await self.open_request("POST", path, body, headers)

    async def open_request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str],
        query: str = "",
    ) -> aiohttp.ClientResponse:  # fmt: skip
        """Start an exchange whose body the caller reads; the caller must ``close()`` it."""
        assert self._session is not None, "Upstream.start() was not called"
        url = self._url(path) + (f"?{query}" if query else "")
        started = time.perf_counter()
        try:
            resp = await self._session.request(
                method, url, data=body, headers=headers, allow_redirects=False
            )
        except Exception as e:
            raise self._translate(e) from e
        self._metrics.upstream_duration.observe(time.perf_counter() - started)
        return resp

    def _translate(self, e: BaseException) -> UpstreamError:
        if isinstance(e, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            self._metrics.upstream_errors.labels(kind="timeout").inc()
            return UpstreamTimeout("The upstream model server did not answer in time.")
        if isinstance(e, aiohttp.ClientConnectorError):
            self._metrics.upstream_errors.labels(kind="connect").inc()
            return UpstreamError("The upstream model server is unreachable.")
        if isinstance(e, aiohttp.ClientError):
            self._metrics.upstream_errors.labels(kind="protocol").inc()
            return UpstreamBadResponse(f"The upstream connection failed: {type(e).__name__}.")
        raise e

    def translate(self, e: BaseException) -> UpstreamError:
        return self._translate(e)

    def count_status(self, status: int) -> None:
        if status >= 500:
            self._metrics.upstream_errors.labels(kind="status_5xx").inc()
        elif status >= 400:
            self._metrics.upstream_errors.labels(kind="status_4xx").inc()


def _returned(headers: Mapping[str, str]) -> dict[str, str]:
    out = {k: v for k in _RETURN if (v := headers.get(k)) is not None}
    out.update(rate_limit_headers(headers))
    return out


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``Retry-After`` and ``x-ratelimit-*`` from an upstream response, names lower-case."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low.startswith(_RATE_LIMIT_PREFIX) or low in _RETRY_AFTER:
            out[low] = value
    return out


def upstream_error(
    status: int, payload: bytes, upstream_headers: Mapping[str, str], headers: dict[str, str]
) -> Response:
    """The client's answer to an upstream error status. The upstream's own OpenAI-style
    error passes with its status; a 429 stays a 429 whatever its body; a redirect or any
    other body becomes the gateway's own error. Rate-limit headers always come along."""
    out = {**headers, **rate_limit_headers(upstream_headers)}
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        parsed = None
    if 300 <= status < 400:
        err: UpstreamError = UpstreamBadResponse(
            f"The upstream answered HTTP {status} (a redirect); the gateway does not follow "
            "redirects."
        )
        return error_response(err, out)
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        return Response(orjson.dumps(parsed), status, headers=out, media_type="application/json")
    if status == 429:
        return error_response(
            UpstreamRateLimited("The upstream model server is rate limiting requests; retry "
                                "after the time in Retry-After."), out)  # fmt: skip
    err = UpstreamBadResponse(f"The upstream answered HTTP {status} without an error body.")
    return error_response(err, out)


async def iter_lines(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    async for line in resp.content:
        yield line
