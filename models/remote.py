"""A classifier served by another gateway, over HTTP: ``POST /v1/moderations``.

Lets CPU proxy pods and GPU inference pods scale apart. The wire shape is OpenAI's
moderation API keyed by taxonomy codes: ``{"input": [...]}`` ->
``{"results": [{"flagged", "categories", "category_scores"}]}``. No torch here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from gateway.classifier import ClassifierUnavailable, Scores
from gateway.metrics import Metrics


class RemoteClassifier:
    """Implements ``Classifier`` by calling a remote ``/v1/moderations`` endpoint."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        connect_timeout_s: float = 2.0,
        total_timeout_s: float = 10.0,
        max_connections: int = 64,
        max_batch: int = 256,
        metrics: Metrics | None = None,
    ) -> None:
        base = url.rstrip("/")
        self.url = base if base.endswith("/moderations") else f"{base}/v1/moderations"
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=total_timeout_s, sock_connect=connect_timeout_s)
        self._limit = max_connections
        self._max_batch = max_batch
        self._session: aiohttp.ClientSession | None = None
        self._model = "remote"
        self._metrics = metrics

    async def classify(
        self,
        texts: Sequence[str],
        direction: str | None = None,
        *,
        normalized: Sequence[str] | None = None,  # the remote gateway normalizes itself
    ) -> list[Scores]:
        # The remote end is another gateway's /v1/moderations, which scores inputs; the
        # direction is not part of that API.
        if not texts:
            return []
        chunks = [texts[i : i + self._max_batch] for i in range(0, len(texts), self._max_batch)]
        parts = await asyncio.gather(*(self._post(list(c)) for c in chunks))
        return [s for part in parts for s in part]

    def info(self) -> dict[str, str]:
        return {
            "name": self._model,
            "path": self.url,
            "device": "remote",
            "dtype": "-",
            "version": self._model,
        }

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, texts: list[str]) -> list[Scores]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(limit=self._limit)
            )
        try:
            async with self._session.post(
                self.url, data=orjson.dumps({"input": texts}), headers=self._headers
            ) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise ClassifierUnavailable(f"remote classifier answered HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ClassifierUnavailable(f"remote classifier unreachable: {exc!r}") from exc
        return self._parse(body, len(texts))

    def _parse(self, body: bytes, n: int) -> list[Scores]:
        try:
            doc: Any = orjson.loads(body)
            results = doc["results"]
            if not isinstance(results, list) or len(results) != n:
                raise ValueError(f"expected {n} results")
            out = [{str(k): float(v) for k, v in r["category_scores"].items()} for r in results]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ClassifierUnavailable(f"remote classifier sent a malformed body: {exc}") from exc
        if isinstance(doc.get("model"), str):
            self._model = doc["model"]
        return out
