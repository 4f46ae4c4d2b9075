"""Response helpers shared by every route: the orjson response class and ids."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from starlette.responses import Response

CONTENT_FILTER = "content_filter"


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())
