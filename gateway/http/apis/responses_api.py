"""The Responses API (``POST /v1/responses``): input items in, output items out.

Checked on the way in: ``instructions``, the ``input`` string or every input item (message
text parts, earlier function calls and their outputs, reasoning summaries; an item type the
gateway does not know is read as every string it holds), function tools (name, description,
parameter schema), a JSON-schema text format and prompt-template variables. On the way out:
each message's ``output_text`` and ``refusal`` parts, reasoning summaries and text, function
call arguments. A blocked request or answer becomes the API's own shape: ``status:
"incomplete"``, ``incomplete_details: {"reason": "content_filter"}`` and one message with
the refusal. A ``previous_response_id`` refers to turns the upstream stores: they were
checked when they happened, if they passed through the gateway.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.decision import Decision
from gateway.errors import InvalidRequest
from gateway.http.apis.base import (
    JSONObject,
    Relay,
    Slot,
    need_dict,
    need_str,
    str_slot,
    unescaped,
)
from gateway.http.apis.responses_wire import (
    encode,
    items,
    refusal_item,
    response_object,
    whole_events,
)
from gateway.http.responses_relay import ResponsesRelay
from gateway.http.stream_deps import StreamDeps
from gateway.moderation.labels import Labeler

# Strings of an unknown item type that are identifiers, not text the model reads.
_ID_KEYS = frozenset({"type", "id", "call_id", "item_id", "status", "role", "object", "model"})
_TEXT_PARTS = ("input_text", "output_text", "text")


class ResponsesApi:
    route = "responses"
    upstream_path = "/responses"
    label_field = "output_text"
    done_marker = b""
    single_moderation = True

    # ---------------------------------------------------------------- requests
    def validate(self, body: JSONObject) -> None:
        value = body.get("input")
        if value is None and body.get("previous_response_id") is None:
            raise InvalidRequest("Missing required parameter: 'input'.", param="input")
        if isinstance(value, list):
            for i, item in enumerate(value):
                _validate_item(need_dict(item, f"input[{i}]"), f"input[{i}]")
        elif value is not None and not isinstance(value, str):
            raise InvalidRequest("'input' must be a string or an array of items.", param="input")
        need_str(body.get("instructions"), "instructions")
        need_str(body.get("model"), "model")
        need_str(body.get("user"), "user")
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise InvalidRequest("'stream' must be a boolean.", param="stream")
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise InvalidRequest("'tools' must be an array.", param="tools")
        for i, tool in enumerate(tools or ()):
            tool = need_dict(tool, f"tools[{i}]")
            need_str(tool.get("name"), f"tools[{i}].name")
            need_str(tool.get("description"), f"tools[{i}].description")
        text = body.get("text")
        if text is not None:
            fmt = need_dict(text, "text").get("format")
            if fmt is not None:
                fmt = need_dict(fmt, "text.format")
                need_str(fmt.get("description"), "text.format.description")
                if fmt.get("schema") is not None:
                    need_dict(fmt["schema"], "text.format.schema")

    def input_slots(self, body: JSONObject) -> list[Slot]:
        slots: list[Slot] = [*str_slot(body, "instructions")]
        value = body.get("input")
        if isinstance(value, str):
            slots.extend(str_slot(body, "input"))
        elif isinstance(value, list):
            for item in value:
                slots.extend(_item_slots(item))
        for tool in body.get("tools") or ():
            if isinstance(tool, dict):
                slots.extend(str_slot(tool, "name"))
                slots.extend(str_slot(tool, "description"))
                slots.extend(_json_slot(tool.get("parameters")))
        text = body.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
        if isinstance(fmt, dict):
            slots.extend(str_slot(fmt, "description"))
            slots.extend(_json_slot(fmt.get("schema")))
        prompt = body.get("prompt")
        variables = prompt.get("variables") if isinstance(prompt, dict) else None
        if isinstance(variables, dict):
            for name in list(variables):
                slots.extend(str_slot(variables, name))
        return unescaped(slots)

    # ---------------------------------------------------------------- whole answers
    def output_slots(self, answer: JSONObject) -> list[Slot]:
        slots: list[Slot] = []
        for item in items(answer):
            slots.extend(_output_item_slots(item))
        slots.extend(str_slot(answer, "output_text"))  # some servers add the convenience
        return unescaped(slots)

    def refusal(self, model: str, decision: Decision, n: int) -> JSONObject:
        return response_object(model, "incomplete", [refusal_item(decision.refusal)],
                               content_filter=True)  # fmt: skip

    def refusal_chunks(self, refusal: JSONObject) -> list[JSONObject]:
        return whole_events(refusal)

    def replace_answer(self, answer: JSONObject, decision: Decision) -> None:
        answer["output"] = [refusal_item(decision.refusal)]
        answer["status"] = "incomplete"
        answer["incomplete_details"] = {"reason": "content_filter"}
        if "output_text" in answer:
            answer["output_text"] = decision.refusal

    def label_answer(self, answer: JSONObject, labeler: Labeler, language: str) -> None:
        parts = [
            part
            for item in items(answer)
            if item.get("type") == "message"
            for part in item.get("content") or ()
            if isinstance(part, dict) and part.get("type") == "output_text"
        ]
        if parts and isinstance(parts[0].get("text"), str):
            parts[0]["text"] = labeler.stream_prefix(language) + parts[0]["text"]
        if parts and isinstance(parts[-1].get("text"), str):
            parts[-1]["text"] += labeler.stream_suffix(language)

    def whole_to_chunks(self, answer: JSONObject) -> list[JSONObject]:
        return whole_events(answer)

    def open_relay(self, deps: StreamDeps) -> Relay:
        return ResponsesRelay(deps)

    def encode_event(self, event: JSONObject) -> bytes:
        return encode(event)


# ---------------------------------------------------------------- items
def _validate_item(item: JSONObject, at: str) -> None:
    content = item.get("content")
    if isinstance(content, list):
        for j, part in enumerate(content):
            part = need_dict(part, f"{at}.content[{j}]")
            for key in ("text", "refusal"):
                if key in part:
                    need_str(part[key], f"{at}.content[{j}].{key}", optional=False)
    elif content is not None and not isinstance(content, str):
        raise InvalidRequest(f"'{at}.content' must be a string or an array of parts.",
                             param=f"{at}.content")  # fmt: skip
    for key in ("arguments", "name"):
        need_str(item.get(key), f"{at}.{key}")
    output = item.get("output")
    if output is not None and not isinstance(output, str | list):
        raise InvalidRequest(f"'{at}.output' must be a string or an array of parts.",
                             param=f"{at}.output")  # fmt: skip


def _item_slots(item: Any) -> list[Slot]:
    if not isinstance(item, dict):
        return []
    kind = item.get("type", "message" if "role" in item else None)
    slots: list[Slot] = []
    if kind == "message":
        content = item.get("content")
        if isinstance(content, str):
            slots.extend(str_slot(item, "content"))
        elif isinstance(content, list):
            for part in content:
                slots.extend(str_slot(part, "text"))
                slots.extend(str_slot(part, "refusal"))
    elif kind == "function_call":
        slots.extend(str_slot(item, "name"))
        slots.extend(str_slot(item, "arguments"))
    elif kind == "function_call_output":
        output = item.get("output")
        if isinstance(output, str):
            slots.extend(str_slot(item, "output"))
        elif isinstance(output, list):
            for part in output:
                slots.extend(str_slot(part, "text"))
    elif kind == "reasoning":
        for key in ("summary", "content"):
            for part in item.get(key) or ():
                slots.extend(str_slot(part, "text"))
    elif kind != "item_reference":
        slots.extend(Slot(None, None, s) for s in _strings(item))  # unknown: every string
    return slots


def _output_item_slots(item: JSONObject) -> list[Slot]:
    kind = item.get("type")
    slots: list[Slot] = []
    if kind == "message":
        for part in item.get("content") or ():
            slots.extend(str_slot(part, "text"))
            slots.extend(str_slot(part, "refusal"))
    elif kind == "reasoning":
        for key in ("summary", "content"):
            for part in item.get(key) or ():
                slots.extend(str_slot(part, "text"))
    elif kind == "function_call":
        slots.extend(str_slot(item, "arguments"))
        slots.extend(str_slot(item, "name"))
    else:
        slots.extend(Slot(None, None, s) for s in _strings(item))
    return slots


def _strings(value: Any, key: str = "") -> list[str]:
    if isinstance(value, str):
        return [value] if value and key not in _ID_KEYS else []
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, k)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, key)]
    return []


def _json_slot(schema: Any) -> list[Slot]:
    if isinstance(schema, dict) and schema:
        return [Slot(None, None, orjson.dumps(schema).decode())]
    return []


RESPONSES = ResponsesApi()
