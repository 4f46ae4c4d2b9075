"""A sequence classifier behind vLLM's classification endpoint: ``POST /classify`` (SGLang
serves the same shape at ``/v1/classify``; give that path in the URL).

``{"model", "input": [texts]}`` -> ``{"data": [{"index", "label", "probs": [...]}]}``. The
answer names only the top label, so the columns of ``probs`` are named by ``labels=`` (the
model's id2label in order) or by their index, and mapped through the label map. ``GET
/v1/models`` gives the served model's name and ``max_model_len`` (the default slice length).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway.classifier import ClassifierUnavailable
from models.serving.backend import Columns, ScoreMode
from models.serving.batching import CallResult
from models.serving.transport import Transport


class VllmClassifyBackend:
    kind = "vllm_classify"
    uses_direction = False

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        labels: tuple[str, ...] = (),
        label_map: Mapping[str, tuple[str, ...]] | None = None,
        scores: ScoreMode = "as-is",
        max_batch: int = 64,
        window_chars: int | None = None,
    ) -> None:
        url = url.rstrip("/")
        self._classify_url = url if url.endswith("/classify") else f"{url}/classify"
        origin = urlunsplit(urlsplit(url)._replace(path="", query=""))
        self._models_url = f"{origin}/v1/models"
        self._model = model
        self._columns = Columns(labels, label_map or {})
        self._mode = scores
        self.max_batch = max_batch
        self._wanted_window = window_chars
        self.window_chars: int | None = window_chars or 512

    async def discover(self, http: Transport) -> None:
        doc = await http.get(self._models_url)
        cards = {str(m["id"]): m for m in doc["data"]}
        if self._model is None:
            if len(cards) != 1:
                raise ClassifierUnavailable(
                    f"{self._models_url} serves {len(cards)} models; name one with ?model="
                )
            self._model = next(iter(cards))
        card = cards.get(self._model)
        if card is None:
            raise ClassifierUnavailable(f"{self._models_url} does not serve {self._model!r}")
        if self._wanted_window is None and card.get("max_model_len"):
            self.window_chars = int(card["max_model_len"])

    def request(self, texts: list[str], direction: str | None) -> tuple[str, Any]:
        return self._classify_url, {"model": self._model, "input": texts}

    def parse(self, doc: Any, n: int) -> list[CallResult]:
        data = sorted(doc["data"], key=lambda d: int(d["index"]))
        if [int(d["index"]) for d in data] != list(range(n)):
            raise ValueError(f"expected results for indexes 0..{n - 1}")
        return [self._columns.scores([float(p) for p in d["probs"]], self._mode) for d in data]

    def health_url(self) -> str:
        return self._models_url

    def describe(self) -> dict[str, str]:
        name = self._model or ""
        return {"name": name, "version": name}
