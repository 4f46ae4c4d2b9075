"""HTTP to a serving engine: one bounded aiohttp pool, explicit timeouts, and the one place
where transport failures become ``ClassifierUnavailable``.

Every failure carries an ``outcome`` from ``gateway.metrics.REMOTE_OUTCOMES`` (timeout,
connect, status_4xx, status_5xx, malformed), so metrics and logs never inspect messages.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from gateway.classifier import ClassifierUnavailable
from models.serving.spec import without_credentials


class ServedError(ClassifierUnavailable):
    """A call to a served classifier failed; ``outcome`` says how."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class Transport:
    """A lazily opened client session (it must be made inside the running event loop)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        connect_timeout_s: float = 2.0,
        total_timeout_s: float = 10.0,
        max_connections: int = 64,
    ) -> None:
        if min(connect_timeout_s, total_timeout_s) <= 0 or max_connections < 1:
            raise ValueError("timeouts must be positive and max_connections at least 1")
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._connect = connect_timeout_s
        self._timeout = aiohttp.ClientTimeout(total=total_timeout_s, sock_connect=connect_timeout_s)
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: Any) -> Any:
        """POST ``body`` as JSON and return the decoded JSON answer."""
        return await self._call("POST", url, orjson.dumps(body), None)

    async def get(self, url: str, *, timeout_s: float | None = None) -> Any:
        """GET a JSON document (metadata, health); ``timeout_s`` bounds probes tighter."""
        timeout = None
        if timeout_s is not None:
            timeout = aiohttp.ClientTimeout(
                total=timeout_s, sock_connect=min(timeout_s, self._connect)
            )
        return await self._call("GET", url, None, timeout)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self, method: str, url: str, data: bytes | None, limits: aiohttp.ClientTimeout | None
    ) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._limit),
                headers=self._headers,
            )
        where = f"{method} {without_credentials(url)}"
        try:
            async with self._session.request(method, url, data=data, timeout=limits) as resp:
                body = await resp.read()
                status = resp.status
        except TimeoutError as exc:
            raise ServedError("timeout", f"served classifier timed out: {where}") from exc
        except aiohttp.ClientError as exc:
            raise ServedError(
                "connect", f"served classifier unreachable ({where}): {type(exc).__name__}: {exc}"
            ) from exc
        if status >= 400:
            kind = "status_5xx" if status >= 500 else "status_4xx"
            # An answer to a POST may quote the texts sent, which must not reach logs; one
            # to a GET (metadata, health) explains what is wrong with the configuration.
            said = f": {_snippet(body)}" if method == "GET" else ""
            raise ServedError(kind, f"served classifier answered HTTP {status} to {where}{said}")
        try:
            return orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            raise ServedError("malformed", f"served classifier sent no JSON to {where}") from exc


def _snippet(body: bytes) -> str:
    """The start of an error body: engines explain 4xx answers there (validation errors)."""
    return body[:200].decode("utf-8", "replace").strip() or "(empty body)"
