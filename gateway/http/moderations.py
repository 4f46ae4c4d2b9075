"""``POST /v1/moderations`` in OpenAI's shape, keyed by taxonomy codes.

Each input is judged on its own by the same pipeline as chat input. ``category_scores``
holds classifier scores where a classifier runs, and 1.0 for categories a keyword or
pattern matched; ``categories[code]`` is true when that category triggered any action.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.audit.recording import RequestInfo
from gateway.decision import Direction
from gateway.errors import InvalidRequest, TooMuchText
from gateway.http.auth import authenticate
from gateway.http.body import read_json_object
from gateway.http.middleware import decision_id_of
from gateway.http.moderation_field import model_name, result
from gateway.http.responses import JSONResponse
from gateway.http.state import AppState
from gateway.moderation.language import detect_language
from gateway.moderation.pipeline import CheckContext

MAX_INPUTS = 256


def _inputs(body: dict[str, Any]) -> list[str]:
    value = body.get("input")
    if value is None:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            elif (
                isinstance(item, dict)
                and item.get("type") == "text"
                and isinstance(item.get("text"), str)
            ):
                out.append(item["text"])
            else:
                raise InvalidRequest(
                    f"'input[{i}]' must be a string or a text part.", param=f"input[{i}]"
                )
        if not out:
            raise InvalidRequest("'input' must not be empty.", param="input")
        if len(out) > MAX_INPUTS:
            raise InvalidRequest(f"'input' holds more than {MAX_INPUTS} items.", param="input")
        return out
    raise InvalidRequest("'input' must be a string or an array of strings.", param="input")


async def moderations(request: Request) -> Response:
    state: AppState = request.app.state.gateway
    decision_id = decision_id_of(request.scope)
    pipeline = state.pipeline
    tenant = authenticate(request, pipeline.policies)
    body = await read_json_object(request, state.settings.max_body_bytes)
    texts = _inputs(body)
    policy = pipeline.policy_for(tenant).policy
    size = sum(len(t) for t in texts)
    if size > policy.limits.max_request_chars:
        raise TooMuchText(
            f"The request holds {size} characters of text; this gateway checks at most "
            f"{policy.limits.max_request_chars} per request."
        )
    default_language = policy.language
    info = RequestInfo(route="moderations", request_id=decision_id, tenant=tenant)

    async def judge(i: int, text: str) -> dict[str, Any]:
        lang = detect_language([text], default_language)
        ctx = CheckContext(f"{decision_id}-{i}", lang, tenant=tenant)
        decision = await pipeline.check([text], Direction.INPUT, ctx)
        pipeline.count(decision)
        if policy.audit.record_moderations:
            await state.recorder.record(decision, info, [text])
        return result(decision)

    # Concurrently, so a configured classifier batches the inputs in one model call.
    results = await asyncio.gather(*(judge(i, t) for i, t in enumerate(texts)))
    return JSONResponse(
        {
            "id": f"modr-{uuid.uuid4().hex}",
            "model": model_name(pipeline.policies.version),
            "results": results,
        }
    )
