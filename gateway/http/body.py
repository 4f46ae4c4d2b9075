"""Reading request bodies without pydantic on the hot path.

Bodies are read with a hard size limit, decoded as strict UTF-8 and parsed with orjson.
Each API shape (``gateway.http.apis``) validates what the gateway relies on; everything
else passes to the upstream untouched, so new OpenAI parameters keep working.
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


async def read_json_object(request: Request, limit: int) -> JSONObject:
    return parse_json_object(await read_body(request, limit))


def request_headers(request: Request) -> dict[str, str]:
    """The request's headers as a plain dict, lower-case names, built in one pass (Starlette's
    ``Headers.get`` scans the whole list on every call). A repeated header keeps its last value."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
