"""A generative guard model (Qwen3Guard-Gen, Llama Guard 3) behind an OpenAI-compatible chat
server such as vLLM or SGLang: ``POST /v1/chat/completions``, one conversation per call.

The server applies the guard's own chat template. A prompt is sent as the user turn; an
answer (direction ``output``) as the assistant turn after an empty user turn, which is how
both model families are asked to judge a response. The verdict text is parsed by
``models.guard_parse`` and mapped to taxonomy codes (the label map overrides the built-in
tables). The chat API takes one conversation per request, so concurrent texts become
concurrent requests; the engine's continuous batching puts them on the GPU together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from gateway.classifier import ClassifierUnavailable
from models import guard_parse
from models.serving.batching import CallResult
from models.serving.transport import Transport

OutputRole = Literal["assistant", "user"]


class ChatGuardBackend:
    kind = "openai_guard"
    max_batch = 1
    uses_direction = True

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        guard_format: str | None = None,
        max_tokens: int = 64,
        controversial_score: float = 0.5,
        output_role: str = "assistant",
        label_map: Mapping[str, tuple[str, ...]] | None = None,
        window_chars: int = 4000,
    ) -> None:
        base = url.rstrip("/").removesuffix("/chat/completions")
        if not base.endswith("/v1"):
            base += "/v1"
        self._chat_url = f"{base}/chat/completions"
        self._models_url = f"{base}/models"
        if guard_format not in (None, "llama_guard", "qwen3guard"):
            raise ValueError(f"format={guard_format!r}: expected llama_guard or qwen3guard")
        if output_role not in ("assistant", "user"):
            raise ValueError(f"output_role={output_role!r}: expected assistant or user")
        if not 0.0 <= controversial_score <= 1.0 or max_tokens < 1:
            raise ValueError("controversial_score must be in [0, 1] and max_tokens >= 1")
        self._model = model
        self._format = cast("guard_parse.GuardFormat | None", guard_format)
        self._max_tokens = max_tokens
        self._controversial = controversial_score
        self._output_role: OutputRole = cast("OutputRole", output_role)
        self._overrides = dict(label_map or {})
        self.window_chars: int | None = window_chars

    @property
    def format(self) -> guard_parse.GuardFormat:
        return self._format or guard_parse.format_for(self._model or "")

    async def discover(self, http: Transport) -> None:
        """Check the model is served (or take the only one the server has)."""
        doc = await http.get(self._models_url)
        served = [str(m["id"]) for m in doc["data"]]
        if self._model is None:
            if len(served) != 1:
                raise ClassifierUnavailable(
                    f"{self._models_url} serves {len(served)} models ({', '.join(served)}); "
                    "name the guard with ?model="
                )
            self._model = served[0]
        elif self._model not in served:
            raise ClassifierUnavailable(
                f"{self._models_url} does not serve {self._model!r} (it serves {', '.join(served)})"
            )

    def request(self, texts: list[str], direction: str | None) -> tuple[str, Any]:
        (text,) = texts  # one conversation per call
        if direction == "output" and self._output_role == "assistant":
            messages = [{"role": "user", "content": ""}, {"role": "assistant", "content": text}]
        else:
            messages = [{"role": "user", "content": text}]
        body = {
            "model": self._model,
            "messages": messages,
            "max_tokens": self._max_tokens,
            "temperature": 0,
            "stream": False,
        }
        return self._chat_url, body

    def parse(self, doc: Any, n: int) -> list[CallResult]:
        content = doc["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise ValueError("the guard's answer has no text content")
        try:
            verdict = guard_parse.parse(content, self.format)
        except guard_parse.GuardOutputError as exc:
            # A confused model must never read as "safe": this text fails, the policy decides.
            return [ClassifierUnavailable(f"guard answer not understood: {exc}")]
        scores = guard_parse.to_scores(
            verdict, self.format, overrides=self._overrides, controversial_score=self._controversial
        )
        return [scores]

    def health_url(self) -> str:
        return self._models_url

    def describe(self) -> dict[str, str]:
        name = self._model or ""
        return {"name": name, "version": name, "format": self.format}
