"""The Responses API on the wire: its event encoding and the objects the gateway writes
itself (a refusal message, an incomplete response, a whole response as events)."""

from __future__ import annotations

import orjson

from gateway.http.apis.base import JSONObject
from gateway.http.responses import new_id, now


def encode(event: JSONObject) -> bytes:
    """A Responses API server-sent event: ``event:`` names its type."""
    kind = event.get("type")
    head = f"event: {kind}\n".encode() if isinstance(kind, str) else b""
    return head + b"data: " + orjson.dumps(event) + b"\n\n"


def response_object(
    model: str, status: str, output: list[JSONObject], *, content_filter: bool = False
) -> JSONObject:
    return {
        "id": new_id("resp"),
        "object": "response",
        "created_at": now(),
        "model": model,
        "status": status,
        "incomplete_details": {"reason": "content_filter"} if content_filter else None,
        "error": None,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
    }


def refusal_item(text: str) -> JSONObject:
    return {
        "type": "message",
        "id": new_id("msg"),
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def whole_events(response: JSONObject) -> list[JSONObject]:
    """A whole response as the event sequence of a stream (for a blocked streaming request,
    or an upstream that answered a stream request with one JSON object)."""
    skeleton = {**response, "status": "in_progress", "output": []}
    events: list[JSONObject] = [{"type": "response.created", "response": skeleton}]
    for oi, item in enumerate(items(response)):
        empty = {**item, "content": []} if item.get("type") == "message" else item
        events.append({"type": "response.output_item.added", "output_index": oi, "item": empty})
        if item.get("type") == "message":
            for ci, part in enumerate(item.get("content") or ()):
                text = part.get("text") if isinstance(part, dict) else None
                if isinstance(text, str):
                    ids = {"item_id": item.get("id"), "output_index": oi, "content_index": ci}
                    events.append({"type": "response.output_text.delta", **ids, "delta": text})
                    events.append({"type": "response.output_text.done", **ids, "text": text})
        events.append({"type": "response.output_item.done", "output_index": oi, "item": item})
    final = (
        "response.incomplete" if response.get("status") == "incomplete" else "response.completed"
    )
    events.append({"type": final, "response": response})
    for seq, event in enumerate(events):
        event["sequence_number"] = seq
    return events


def items(answer: JSONObject) -> list[JSONObject]:
    output = answer.get("output")
    return [i for i in output if isinstance(i, dict)] if isinstance(output, list) else []
