"""Another gateway's ``POST /v1/moderations`` (OpenAI's moderation shape, categories keyed by
taxonomy codes): ``{"input": [...]}`` -> ``{"model", "results": [{"category_scores"}]}``.

The remote gateway normalizes, windows and batches on its side; this end only coalesces
concurrent texts into list inputs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from models.serving.batching import CallResult
from models.serving.transport import Transport


class ModerationsBackend:
    kind = "gateway"
    window_chars: int | None = None
    uses_direction = False  # the moderation API scores inputs; it takes no direction

    def __init__(self, url: str, *, max_batch: int = 256) -> None:
        base = url.rstrip("/")
        self.url = base if base.endswith("/moderations") else f"{base}/v1/moderations"
        self.max_batch = max_batch
        self._model = "remote"

    async def discover(self, http: Transport) -> None:
        return None  # the answers name the model

    def request(self, texts: list[str], direction: str | None) -> tuple[str, Any]:
        return self.url, {"input": texts}

    def parse(self, doc: Any, n: int) -> list[CallResult]:
        results = doc["results"]
        if not isinstance(results, list) or len(results) != n:
            raise ValueError(f"expected {n} results")
        out: list[CallResult] = [
            {str(k): float(v) for k, v in r["category_scores"].items()} for r in results
        ]
        if isinstance(doc.get("model"), str):
            self._model = doc["model"]
        return out

    def health_url(self) -> str:
        parts = urlsplit(self.url)  # .../v1/moderations -> .../readyz (a path prefix kept)
        prefix = parts.path.removesuffix("/moderations").removesuffix("/v1")
        return urlunsplit(parts._replace(path=f"{prefix}/readyz", query=""))

    def describe(self) -> dict[str, str]:
        return {"name": self._model, "version": self._model}
