"""Scripted stand-ins for model-serving engines, for tests and benchmarks: each speaks one
protocol as the engine's published API describes it, with the request validation that
matters to a client, and answers what a script says.

- ``openai``: an OpenAI-compatible chat server with a guard model (vLLM, SGLang):
  ``GET /v1/models``, ``POST /v1/chat/completions`` (``guard(text, role)`` writes the
  answer), ``GET /health``.
- ``tei``: text-embeddings-inference with a sequence classifier: ``GET /info``,
  ``GET /health``, ``POST /predict`` (a string, a pair ``[a, b]``, or a batch
  ``[[a], [b, c], ...]``; more than ``max_client_batch_size`` inputs is HTTP 413; an empty
  input 422; ``raw_scores`` returns logits).
- ``vllm``: vLLM's classification API: ``GET /v1/models``, ``POST /classify``
  (``input`` a string or a list; ``probs`` in label order; the top ``label``).
- ``kserve``: the KServe v2 / Open Inference Protocol: ``GET /v2/health/ready``,
  ``GET /v2/models/{name}`` (metadata), ``GET /v2/models/{name}/ready``,
  ``POST /v2/models/{name}/infer`` (one ``BYTES`` input of shape ``[N]`` or ``[N, 1]``, as
  the metadata declares; an ``FP32`` output ``[N, K]`` in row-major order).

Encoders score a text with ``judge(text) -> probabilities per label``. ``delay_ms`` (per
call) and ``per_text_ms`` (per text, in the same call) stand in for model time, one call at
a time with ``serial`` (an engine without batching of its own); ``status`` answers every
inference call with that HTTP status. ``calls`` keeps inference request bodies, and
``GET /_mock/stats`` counts calls and texts. Raw ASGI and orjson, so the server is not what
a benchmark measures.

    python -m loadtest.mock_engines --protocol tei --port 8090 --per-text-ms 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import orjson

Judge = Callable[[str], list[float]]
Guard = Callable[[str, str], str]  # (text, role of the judged turn) -> the guard's answer
Scope = dict[str, Any]

LABELS = ("neutral", "terrorism", "porn")


def keyword_judge(text: str) -> list[float]:
    """A stand-in model: 炸弹/bomb is terrorism, 色情/porn is porn, anything else neutral."""
    if "炸弹" in text or "bomb" in text:
        return [0.05, 0.9, 0.05]
    if "色情" in text or "porn" in text:
        return [0.1, 0.1, 0.8]
    return [0.96, 0.02, 0.02]


def qwen_guard(text: str, role: str) -> str:
    """A stand-in Qwen3Guard-Gen: violent text is unsafe; answers carry a Refusal line."""
    unsafe = "炸弹" in text or "bomb" in text
    verdict = "Safety: Unsafe\nCategories: Violent" if unsafe else "Safety: Safe\nCategories: None"
    return verdict + ("\nRefusal: No" if role == "assistant" else "")


class HttpError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body


class MockEngine:
    def __init__(
        self,
        protocol: str,
        *,
        model: str = "mock-model",
        models: tuple[str, ...] | None = None,
        labels: tuple[str, ...] = LABELS,
        judge: Judge = keyword_judge,
        guard: Guard = qwen_guard,
        max_client_batch_size: int = 32,
        max_input_length: int = 512,
        input_rank: int = 2,
        delay_ms: float = 0.0,
        per_text_ms: float = 0.0,
        serial: bool = False,
        keep_calls: bool = True,
    ) -> None:
        if protocol not in ("openai", "tei", "vllm", "kserve"):
            raise ValueError(f"unknown protocol {protocol!r}")
        self.protocol = protocol
        self.model = model
        self.models = models or (model,)
        self.labels = labels
        self.judge = judge
        self.guard = guard
        self.max_client_batch_size = max_client_batch_size
        self.max_input_length = max_input_length
        self.input_rank = input_rank
        self.delay_ms = delay_ms
        self.per_text_ms = per_text_ms
        self.keep_calls = keep_calls
        self._device = asyncio.Lock() if serial else None  # one model call at a time
        self.status: int | None = None
        self.down = False  # health and metadata answer 503 too
        self.calls: list[Any] = []
        self.n_calls = 0
        self.texts_seen = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            status, answer = 200, await self._route(scope["method"], scope["path"], body)
        except HttpError as e:
            status, answer = e.status, e.body
        data = orjson.dumps(answer)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def _route(self, method: str, path: str, body: bytes) -> Any:
        if path == "/_mock/stats":
            return {"calls": self.n_calls, "texts": self.texts_seen}
        if self.down:
            raise HttpError(503, {"error": "engine is down"})
        handler = self._routes().get((method, path))
        if handler is None:
            raise HttpError(404, {"error": f"no route {method} {path}"})
        if method == "GET":
            return handler(None)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise HttpError(400, {"error": "body is not JSON"}) from None
        if self.status is not None:
            raise HttpError(self.status, {"error": f"scripted status {self.status}"})
        if self.keep_calls:
            self.calls.append(doc)
        answer, texts = handler(doc)
        self.n_calls += 1
        self.texts_seen += texts
        wait = self.delay_ms + self.per_text_ms * texts
        if wait and self._device is not None:
            async with self._device:
                await asyncio.sleep(wait / 1000)
        elif wait:
            await asyncio.sleep(wait / 1000)
        return answer

    def _routes(self) -> dict[tuple[str, str], Callable[[Any], Any]]:
        kserve = f"/v2/models/{self.model}"
        return {
            "openai": {("GET", "/v1/models"): self._models, ("GET", "/health"): _ok,
                       ("POST", "/v1/chat/completions"): self._chat},
            "tei": {("GET", "/info"): self._info, ("GET", "/health"): _ok,
                    ("POST", "/predict"): self._predict},
            "vllm": {("GET", "/v1/models"): self._models, ("GET", "/health"): _ok,
                     ("POST", "/classify"): self._classify},
            "kserve": {("GET", "/v2/health/ready"): _ok, ("GET", kserve): self._metadata,
                       ("GET", f"{kserve}/ready"): _ok, ("POST", f"{kserve}/infer"): self._infer},
        }[self.protocol]  # fmt: skip

    # --- OpenAI-compatible chat (guard) and vLLM classification

    def _models(self, _: Any) -> Any:
        cards = [{"id": m, "object": "model", "owned_by": "mock", "max_model_len": self.max_input_length}
                 for m in self.models]  # fmt: skip
        return {"object": "list", "data": cards}

    def _chat(self, doc: Any) -> tuple[Any, int]:
        if doc.get("model") not in self.models:
            raise HttpError(404, {"error": {"message": f"model {doc.get('model')!r} does not exist",
                                            "type": "NotFoundError", "code": 404}})  # fmt: skip
        messages = doc.get("messages")
        if not isinstance(messages, list) or not messages:
            raise HttpError(400, {"error": {"message": "messages must be a non-empty list"}})
        for m in messages:
            if m.get("role") not in ("system", "user", "assistant") or not isinstance(
                m.get("content"), str
            ):
                raise HttpError(400, {"error": {"message": f"bad message {m!r}"}})
        last = messages[-1]
        reply = self.guard(last["content"], last["role"])
        completion = {
            "id": "chatcmpl-mock", "object": "chat.completion", "created": int(time.time()),
            "model": doc["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }  # fmt: skip
        return completion, 1

    def _classify(self, doc: Any) -> tuple[Any, int]:
        if doc.get("model") not in self.models:
            raise HttpError(
                404, {"error": {"message": f"model {doc.get('model')!r} does not exist"}}
            )
        texts = doc.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise HttpError(
                400, {"error": {"message": "input must be a string or a list of strings"}}
            )
        data = []
        for i, text in enumerate(texts):
            probs = self.judge(text)
            top = max(range(len(probs)), key=probs.__getitem__)
            data.append({"index": i, "label": self.labels[top], "probs": probs,
                         "num_classes": len(probs)})  # fmt: skip
        return {"id": "classify-mock", "object": "list", "created": int(time.time()),
                "model": doc["model"], "data": data,
                "usage": {"prompt_tokens": 1, "total_tokens": 1}}, len(texts)  # fmt: skip

    # --- text-embeddings-inference

    def _info(self, _: Any) -> Any:
        id2label = {str(i): name for i, name in enumerate(self.labels)}
        return {
            "model_id": self.model, "model_sha": "0123abcd", "model_dtype": "float16",
            "model_type": {"classifier": {"id2label": id2label,
                                          "label2id": {v: int(k) for k, v in id2label.items()}}},
            "max_concurrent_requests": 512, "max_input_length": self.max_input_length,
            "max_batch_tokens": 16384, "max_batch_requests": None,
            "max_client_batch_size": self.max_client_batch_size, "auto_truncate": False,
            "tokenization_workers": 4, "version": "1.5.0",
        }  # fmt: skip

    def _predict(self, doc: Any) -> tuple[Any, int]:
        inputs = doc.get("inputs")
        if isinstance(inputs, str):
            batch, single = [inputs], True
        elif isinstance(inputs, list) and inputs and all(isinstance(x, str) for x in inputs):
            if len(inputs) > 2:
                raise HttpError(422, {"error": "a sequence is a string or a pair of strings",
                                      "error_type": "Validation"})  # fmt: skip
            batch, single = [" ".join(inputs)], True  # a sentence pair: one input
        elif isinstance(inputs, list) and inputs and all(isinstance(x, list) for x in inputs):
            if any(not 1 <= len(x) <= 2 for x in inputs):
                raise HttpError(
                    422, {"error": "invalid sequence length", "error_type": "Validation"}
                )
            batch, single = [" ".join(x) for x in inputs], False
        else:
            raise HttpError(422, {"error": "invalid inputs", "error_type": "Validation"})
        if len(batch) > self.max_client_batch_size:
            raise HttpError(413, {"error": f"batch size {len(batch)} > maximum allowed batch "
                                           f"size {self.max_client_batch_size}",
                                  "error_type": "Validation"})  # fmt: skip
        if any(not t for t in batch):
            raise HttpError(422, {"error": "`inputs` cannot be empty", "error_type": "Validation"})
        raw = bool(doc.get("raw_scores"))
        rows = []
        for text in batch:
            probs = self.judge(text)
            values = [math.log(max(p, 1e-9)) for p in probs] if raw else probs
            order = sorted(range(len(values)), key=lambda i: -values[i])  # best first, as TEI
            rows.append([{"score": values[i], "label": self.labels[i]} for i in order])
        return (rows[0] if single else rows), len(batch)

    # --- KServe v2

    def _metadata(self, _: Any) -> Any:
        shape = [-1, 1] if self.input_rank == 2 else [-1]
        return {
            "name": self.model, "versions": ["3"], "platform": "mock",
            "inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": shape}],
            "outputs": [{"name": "PROBS", "datatype": "FP32", "shape": [-1, len(self.labels)]}],
        }  # fmt: skip

    def _infer(self, doc: Any) -> tuple[Any, int]:
        inputs = doc.get("inputs")
        if not isinstance(inputs, list) or len(inputs) != 1 or inputs[0].get("name") != "TEXT":
            raise HttpError(400, {"error": "expected one input named TEXT"})
        tensor = inputs[0]
        texts = tensor.get("data")
        if tensor.get("datatype") != "BYTES" or not isinstance(texts, list):
            raise HttpError(400, {"error": "TEXT must be BYTES data"})
        expected = [len(texts), 1] if self.input_rank == 2 else [len(texts)]
        if tensor.get("shape") != expected:
            raise HttpError(400, {"error": f"TEXT shape {tensor.get('shape')} != {expected}"})
        wanted = [o.get("name") for o in doc.get("outputs") or [{"name": "PROBS"}]]
        if wanted != ["PROBS"]:
            raise HttpError(400, {"error": f"unknown outputs {wanted}"})
        flat = [p for text in texts for p in self.judge(str(text))]
        output = {"name": "PROBS", "datatype": "FP32", "shape": [len(texts), len(self.labels)],
                  "data": flat}  # fmt: skip
        return {"model_name": self.model, "model_version": "3", "id": doc.get("id", ""),
                "outputs": [output]}, len(texts)  # fmt: skip


def _ok(_: Any) -> Any:
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description="A scripted model-serving engine.")
    parser.add_argument("--protocol", choices=["openai", "tei", "vllm", "kserve"], default="tei")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--model", default="mock-model")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="model time per call")
    parser.add_argument("--per-text-ms", type=float, default=0.0, help="model time per text")
    parser.add_argument("--serial", action="store_true", help="one model call at a time")
    parser.add_argument("--max-client-batch-size", type=int, default=256)
    args = parser.parse_args()
    import uvicorn

    app = MockEngine(args.protocol, model=args.model, delay_ms=args.delay_ms,
                     per_text_ms=args.per_text_ms, serial=args.serial, keep_calls=False,
                     max_client_batch_size=args.max_client_batch_size)  # fmt: skip
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
