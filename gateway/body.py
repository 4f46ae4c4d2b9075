"""Reading and validating request bodies without pydantic on the hot path.

Bodies are read with a hard size limit, decoded as strict UTF-8 and parsed with orjson.
Validation checks only what the gateway relies on; everything else passes to the upstream
untouched, so new OpenAI parameters keep working.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from gateway.errors import BodyTooLarge, InvalidEncoding, InvalidJSON, InvalidRequest

JSONObject = dict[str, Any]


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge(f"Request body exceeds the limit of {limit} bytes.")
        except ValueError:
            raise InvalidRequest("Content-Length header is not a number.") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"Request body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> JSONObject:
    if not raw:
        raise InvalidJSON("Request body is empty; expected a JSON object.")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidEncoding(f"Request body is not valid UTF-8 (byte offset {e.start}).") from None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidJSON(f"Request body is not valid JSON: {e}.") from None
    if not isinstance(value, dict):
        raise InvalidJSON("Request body must be a JSON object.")
    return value


def validate_chat(body: JSONObject) -> None:
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest("Missing required parameter: 'messages'.", param="messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise InvalidRequest(f"'messages[{i}]' must be an object.", param=f"messages[{i}]")
        role = m.get("role")
        if not isinstance(role, str):
            raise InvalidRequest(
                f"'messages[{i}].role' must be a string.", param=f"messages[{i}].role"
            )
        content = m.get("content")
        if content is not None and not isinstance(content, str | list):
            raise InvalidRequest(
                f"'messages[{i}].content' must be a string or an array of content parts.",
                param=f"messages[{i}].content",
            )
    _validate_common(body)


def validate_completion(body: JSONObject) -> None:
    prompt = body.get("prompt")
    if prompt is None:
        raise InvalidRequest("Missing required parameter: 'prompt'.", param="prompt")
    ok = isinstance(prompt, str) or (
        isinstance(prompt, list) and all(isinstance(p, str) for p in prompt)
    )
    if not ok:
        # Token-id prompts cannot be checked as text, so they are refused rather than let through.
        raise InvalidRequest("'prompt' must be a string or an array of strings.", param="prompt")
    _validate_common(body)


def _validate_common(body: JSONObject) -> None:
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidRequest("'model' must be a string.", param="model")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean.", param="stream")
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128):
        raise InvalidRequest("'n' must be an integer between 1 and 128.", param="n")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise InvalidRequest("'user' must be a string.", param="user")
