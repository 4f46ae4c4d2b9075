"""A classifier behind the KServe v2 / Open Inference Protocol (KServe, NVIDIA Triton, MLServer,
Seldon): ``POST /v2/models/{name}[/versions/{v}]/infer``.

The texts go as one ``BYTES`` input tensor of shape ``[N]`` or ``[N, 1]`` (the rank the
model's metadata declares); the scores come back as an ``FP32``/``FP64`` output of shape
``[N, K]`` (or ``[N]`` for one score), flat in row-major order or nested. ``GET
/v2/models/{name}`` (metadata) names the tensors when ``input=`` / ``output=`` do not; the
``K`` columns are named by ``labels=`` or by their index and mapped through the label map.
Readiness is ``GET /v2/models/{name}/ready``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway.classifier import ClassifierUnavailable
from models.serving.backend import Columns, ScoreMode
from models.serving.batching import CallResult
from models.serving.transport import Transport

_MODEL_PATH = re.compile(r"^(?:/v2)?/models/([^/]+)(/versions/[^/]+)?(?:/infer)?/?$")
_NUMERIC = frozenset({"FP16", "FP32", "FP64", "BF16"})


class KServeBackend:
    kind = "kserve"
    uses_direction = False

    def __init__(
        self,
        url: str,
        *,
        labels: tuple[str, ...] = (),
        label_map: Mapping[str, tuple[str, ...]] | None = None,
        scores: ScoreMode = "as-is",
        input_name: str | None = None,
        output_name: str | None = None,
        max_batch: int = 64,
        window_chars: int | None = None,
    ) -> None:
        parts = urlsplit(url.rstrip("/"))
        m = _MODEL_PATH.match(parts.path)
        if m is None:
            raise ValueError(
                f"{url}: a KServe v2 URL names the model: http://HOST/v2/models/NAME "
                "(optionally /versions/V)"
            )
        self._name = m.group(1)
        self._model_url = urlunsplit(
            parts._replace(path=f"/v2/models/{m.group(1)}{m.group(2) or ''}")
        )
        self._input = input_name
        self._output = output_name
        self._rank = 1  # [N]; [N, 1] when the metadata says the input has two dimensions
        self._columns = Columns(labels, label_map or {})
        self._mode = scores
        self.max_batch = max_batch
        self.window_chars: int | None = window_chars or 512
        self._version = ""

    async def discover(self, http: Transport) -> None:
        meta = await http.get(self._model_url)
        inputs = meta.get("inputs") or []
        if self._input is None:
            texts = [t for t in inputs if t.get("datatype") in ("BYTES", "STRING")]
            if len(texts) != 1:
                raise ClassifierUnavailable(
                    f"{self._model_url}: the model has {len(texts)} BYTES inputs; name one with ?input="
                )
            self._input = str(texts[0]["name"])
        declared = next((t for t in inputs if t.get("name") == self._input), None)
        if declared is not None and len(declared.get("shape") or [-1]) == 2:
            self._rank = 2
        if self._output is None:
            outputs = [t for t in meta.get("outputs") or [] if t.get("datatype") in _NUMERIC]
            if not outputs:
                raise ClassifierUnavailable(
                    f"{self._model_url}: no numeric output; name one with ?output="
                )
            self._output = str(outputs[0]["name"])
        versions = meta.get("versions") or []
        self._version = str(versions[-1]) if versions else ""

    def request(self, texts: list[str], direction: str | None) -> tuple[str, Any]:
        shape = [len(texts), 1] if self._rank == 2 else [len(texts)]
        body = {
            "inputs": [{"name": self._input, "shape": shape, "datatype": "BYTES", "data": texts}],
            "outputs": [{"name": self._output}],
        }
        return f"{self._model_url}/infer", body

    def parse(self, doc: Any, n: int) -> list[CallResult]:
        tensor = next((o for o in doc["outputs"] if o["name"] == self._output), None)
        if tensor is None:
            raise ValueError(f"no output named {self._output!r}")
        shape = [int(d) for d in tensor["shape"]]
        flat = _flatten(tensor["data"])
        k = 1 if len(shape) == 1 else shape[-1]
        if shape[0] != n or len(shape) > 2 or len(flat) != n * k:
            raise ValueError(f"output {self._output!r} has shape {shape}, expected [{n}, K]")
        if isinstance(doc.get("model_version"), str):
            self._version = doc["model_version"]
        return [self._columns.scores(flat[i * k : (i + 1) * k], self._mode) for i in range(n)]

    def health_url(self) -> str:
        return f"{self._model_url}/ready"

    def describe(self) -> dict[str, str]:
        return {"name": self._name, "version": self._version or self._name}


def _flatten(data: Any) -> list[float]:
    """Row-major values from flat or nested JSON arrays."""
    if isinstance(data, list):
        return [v for item in data for v in _flatten(item)]
    return [float(data)]
