"""Server-sent events: parsing the upstream's stream and writing ours.

Only what OpenAI-compatible servers send is handled: ``data:`` fields (one or several
lines), comments, and blank-line event boundaries. ``[DONE]`` is returned as the raw string.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

DONE = b"data: [DONE]\n\n"
MAX_EVENT_BYTES = 4 * 1024 * 1024  # one event larger than this is an upstream fault


class SSEError(Exception):
    pass


async def iter_events(lines: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Yield the data payload of each event from an iterator of raw lines."""
    data: list[bytes] = []
    size = 0
    async for raw in lines:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield b"\n".join(data).decode("utf-8", errors="replace")
                data.clear()
                size = 0
            continue
        if line.startswith(b":"):
            continue  # comment / keep-alive
        field, _, value = line.partition(b":")
        if field != b"data":
            continue  # event:, id:, retry: carry nothing we need
        if value.startswith(b" "):
            value = value[1:]
        size += len(value)
        if size > MAX_EVENT_BYTES:
            raise SSEError("upstream sent an event larger than the limit")
        data.append(value)
    if data:
        yield b"\n".join(data).decode("utf-8", errors="replace")


def encode(obj: object) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"
