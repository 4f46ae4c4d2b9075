"""OpenAI-shaped bodies the gateway writes itself: refusals, stopped streams, labels."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from starlette.responses import Response

from gateway.decision import Decision

CONTENT_FILTER = "content_filter"


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def refusal_chat_completion(model: str, decision: Decision, n: int = 1) -> dict[str, Any]:
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": decision.refusal},
                "finish_reason": CONTENT_FILTER,
                "logprobs": None,
            }
            for i in range(n)
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "moderation": decision.summary(),
    }


def refusal_text_completion(model: str, decision: Decision, n: int = 1) -> dict[str, Any]:
    return {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": i,
                "text": decision.refusal,
                "finish_reason": CONTENT_FILTER,
                "logprobs": None,
            }
            for i in range(n)
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "moderation": decision.summary(),
    }


def chat_chunk(
    base: dict[str, Any], index: int, delta: dict[str, Any], finish_reason: str | None = None
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` reusing the upstream's id/model/created when known."""
    return {
        "id": base.get("id") or new_id("chatcmpl"),
        "object": "chat.completion.chunk",
        "created": base.get("created") or int(time.time()),
        "model": base.get("model") or "",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}],
    }


def text_chunk(
    base: dict[str, Any], index: int, text: str, finish_reason: str | None = None
) -> dict[str, Any]:
    return {
        "id": base.get("id") or new_id("cmpl"),
        "object": "text_completion",
        "created": base.get("created") or int(time.time()),
        "model": base.get("model") or "",
        "choices": [{"index": index, "text": text, "finish_reason": finish_reason,
                     "logprobs": None}],
    }  # fmt: skip
