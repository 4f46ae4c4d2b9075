"""A sequence classifier behind Hugging Face text-embeddings-inference: ``POST /predict``.

``GET /info`` says what the server runs: ``model_type.classifier.id2label`` (every label is
checked against the label map before the first call), ``max_client_batch_size`` (texts per
call) and ``max_input_length`` (tokens; the default slice length in characters, which a
character never undercuts for CJK text). A batch is sent as ``[[text], [text], ...]``: TEI
reads a flat pair ``[a, b]`` as one sentence pair, not as two texts. Scores are TEI's
(softmax over the labels) unless ``scores=sigmoid`` asks for raw logits through a sigmoid,
which is right for multi-label models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.classifier import ClassifierUnavailable, Scores
from models import labels
from models.serving.backend import ScoreMode, activate
from models.serving.batching import CallResult
from models.serving.transport import Transport


class TeiBackend:
    kind = "tei"
    uses_direction = False

    def __init__(
        self,
        url: str,
        *,
        label_map: Mapping[str, tuple[str, ...]] | None = None,
        scores: ScoreMode = "as-is",
        max_batch: int | None = None,
        window_chars: int | None = None,
    ) -> None:
        root = url.rstrip("/").removesuffix("/predict")
        self._predict_url = f"{root}/predict"
        self._info_url = f"{root}/info"
        self._health_url = f"{root}/health"
        self._map = dict(label_map or {})
        self._mode = scores
        self._wanted_batch = max_batch
        self.max_batch = max_batch or 32  # TEI's default max_client_batch_size
        self._wanted_window = window_chars
        self.window_chars: int | None = window_chars or 512
        self._codes: dict[str, tuple[str, ...]] = {}
        self._name = ""
        self._version = ""

    async def discover(self, http: Transport) -> None:
        info = await http.get(self._info_url)
        model_type = info["model_type"]
        classifier = model_type.get("classifier")
        if not isinstance(classifier, dict):
            kind = ", ".join(model_type) or "unknown"
            raise ClassifierUnavailable(
                f"{self._info_url}: TEI serves a {kind} model, not a sequence classifier"
            )
        try:
            self._codes = {
                str(name): labels.codes_for(str(name), self._map)
                for name in classifier["id2label"].values()
            }
        except labels.LabelMappingError as exc:
            raise ClassifierUnavailable(f"{self._info_url}: {exc}") from exc
        server_batch = int(info.get("max_client_batch_size") or self.max_batch)
        self.max_batch = min(self._wanted_batch or server_batch, server_batch)
        if self._wanted_window is None and info.get("max_input_length"):
            self.window_chars = int(info["max_input_length"])
        self._name = str(info.get("model_id") or "tei")
        self._version = str(info.get("model_sha") or info.get("version") or "")

    def request(self, texts: list[str], direction: str | None) -> tuple[str, Any]:
        body = {
            "inputs": [[t] for t in texts],
            "truncate": True,  # a slice the tokenizer makes longer than the model is cut, not refused
            "raw_scores": self._mode != "as-is",
        }
        return self._predict_url, body

    def parse(self, doc: Any, n: int) -> list[CallResult]:
        if not isinstance(doc, list) or len(doc) != n:
            raise ValueError(f"expected {n} predictions")
        return [self._scores(row) for row in doc]

    def _scores(self, row: list[dict[str, Any]]) -> Scores:
        values = activate([float(p["score"]) for p in row], self._mode)
        out: Scores = {}
        for p, value in zip(row, values, strict=True):
            codes = self._codes.get(str(p["label"]))
            if codes is None:
                raise ValueError(f"label {p['label']!r} is not in the model's id2label")
            for code in codes:
                if value > out.get(code, -1.0):
                    out[code] = value
        return out

    def health_url(self) -> str:
        return self._health_url

    def describe(self) -> dict[str, str]:
        return {"name": self._name, "version": self._version or self._name}
