"""Chat completions (``POST /v1/chat/completions``): where texts live, and how answers,
refusals and stream chunks are shaped.

Every field the model reads is checked: each message's content (string or text parts),
its ``name``, tool calls and legacy function calls, reasoning sent back by the client, and
the request's tool and function definitions, JSON-schema response format and predicted
output. A field of the wrong type is a 400 naming it: a text the gateway cannot read is
never sent on unchecked. Image, audio and file parts carry no text and pass as they are.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.decision import Decision
from gateway.errors import InvalidRequest
from gateway.http import sse
from gateway.http.apis.base import (
    ChoiceState,
    JSONObject,
    Relay,
    Slot,
    StreamFeed,
    need_dict,
    need_str,
    str_slot,
    unescaped,
    validate_common,
)
from gateway.http.relay import ChoiceRelay
from gateway.http.responses import CONTENT_FILTER, new_id, now
from gateway.http.stream_deps import StreamDeps
from gateway.moderation.labels import Labeler

# Fields of an assistant message (or a stream delta) that reach the user as text.
# ``reasoning_content`` is what DeepSeek-style reasoning models stream; ``reasoning`` is the
# name some other servers (vLLM, OpenRouter) use.
OUTPUT_TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")
# Delta fields passed on as they are; any other (unknown) delta field is dropped, since it
# may carry text the gateway has not checked.
_PASSTHROUGH_DELTA = ("role",)
_TOOL = "tool"
_FUNCTION_CALL = "function_call"


class ChatApi:
    route = "chat_completions"
    upstream_path = "/chat/completions"
    label_field = "content"

    # ---------------------------------------------------------------- requests
    def validate(self, body: JSONObject) -> None:
        messages = body.get("messages")
        if messages is None:
            raise InvalidRequest("Missing required parameter: 'messages'.", param="messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
        for i, m in enumerate(messages):
            _validate_message(m, f"messages[{i}]")
        _validate_tools(body.get("tools"), "tools", nested=True)
        _validate_tools(body.get("functions"), "functions", nested=False)
        _validate_response_format(body.get("response_format"))
        _validate_prediction(body.get("prediction"))
        validate_common(body)

    def input_slots(self, body: JSONObject) -> list[Slot]:
        """All texts the model will see (``validate`` has checked their types)."""
        slots: list[Slot] = []
        for m in body.get("messages") or ():
            content = m.get("content")
            if isinstance(content, str):
                slots.extend(str_slot(m, "content"))
            elif isinstance(content, list):
                for part in content:
                    slots.extend(str_slot(part, "text"))
                    slots.extend(str_slot(part, "refusal"))
            for name in ("name", "reasoning_content", "reasoning", "refusal"):
                slots.extend(str_slot(m, name))
            slots.extend(_call_slots(m.get("tool_calls")))
            fc = m.get("function_call")
            slots.extend(str_slot(fc, "name"))
            slots.extend(str_slot(fc, "arguments"))
        for tool in body.get("tools") or ():
            slots.extend(_definition_slots(tool.get("function")))
        for fn in body.get("functions") or ():
            slots.extend(_definition_slots(fn))
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict):
            slots.extend(_definition_slots(fmt["json_schema"], schema_key="schema"))
        prediction = body.get("prediction")
        if isinstance(prediction, dict):
            content = prediction.get("content")
            if isinstance(content, str):
                slots.extend(str_slot(prediction, "content"))
            elif isinstance(content, list):
                for part in content:
                    slots.extend(str_slot(part, "text"))
        return unescaped(slots)

    # ---------------------------------------------------------------- whole answers
    def output_slots(self, answer: JSONObject) -> list[Slot]:
        slots: list[Slot] = []
        for choice in _choices(answer):
            message = choice.get("message")
            if not isinstance(message, dict):
                continue
            for name in OUTPUT_TEXT_FIELDS:
                slots.extend(str_slot(message, name))
            slots.extend(_call_slots(message.get("tool_calls")))
            slots.extend(str_slot(message.get(_FUNCTION_CALL), "arguments"))
            slots.extend(str_slot(message.get("audio"), "transcript"))
        return unescaped(slots)

    def refusal(self, model: str, decision: Decision, n: int) -> JSONObject:
        return {
            "id": new_id("chatcmpl"),
            "object": "chat.completion",
            "created": now(),
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
        }

    def refusal_chunks(self, refusal: JSONObject) -> list[JSONObject]:
        chunks = []
        for c in refusal["choices"]:
            delta = {"role": "assistant", "content": c["message"]["content"]}
            chunks.append(chunk(refusal, c["index"], delta, CONTENT_FILTER))
        return with_extras(chunks, refusal)

    def replace_answer(self, answer: JSONObject, decision: Decision) -> None:
        for choice in _choices(answer):
            choice["message"] = {"role": "assistant", "content": decision.refusal}
            choice["finish_reason"] = CONTENT_FILTER
            choice.pop("logprobs", None)  # the replaced tokens' text must not survive here

    def label_answer(self, answer: JSONObject, labeler: Labeler, language: str) -> None:
        for choice in _choices(answer):
            message = choice.get("message")
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                message["content"] = labeler.apply(message["content"], language)

    def whole_to_chunks(self, answer: JSONObject) -> list[JSONObject]:
        out = []
        for choice in _choices(answer):
            found = choice.get("message")
            message: JSONObject = found if isinstance(found, dict) else {}
            delta: JSONObject = {"role": "assistant"}
            for name in OUTPUT_TEXT_FIELDS:
                if isinstance(message.get(name), str):
                    delta[name] = message[name]
            calls = message.get("tool_calls")
            if isinstance(calls, list):
                delta["tool_calls"] = [
                    {**c, "index": i} for i, c in enumerate(calls) if isinstance(c, dict)
                ]
            finish = choice.get("finish_reason")
            out.append(chunk(answer, _index(choice), delta, finish if isinstance(finish, str)
                             else "stop"))  # fmt: skip
        return out

    # ---------------------------------------------------------------- streams
    def absorb(self, choice: JSONObject, state: ChoiceState, feed: StreamFeed) -> None:
        idx = _index(choice)
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return
        for name, value in delta.items():
            if name in OUTPUT_TEXT_FIELDS:
                if isinstance(value, str) and value:
                    feed((idx, name, -1), value)
            elif name == "tool_calls" and isinstance(value, list):
                _absorb_tools(idx, state, value, feed)
            elif name == _FUNCTION_CALL and isinstance(value, dict):
                meta = state.tools.setdefault(-1, {})
                if isinstance(value.get("name"), str):
                    meta["name"] = value["name"]
                args = value.get("arguments")
                if isinstance(args, str) and args:
                    feed((idx, _FUNCTION_CALL, -1), args)
            elif name in _PASSTHROUGH_DELTA and value is not None:
                state.passthrough[name] = value

    def emit(
        self, base: JSONObject, index: int, state: ChoiceState, texts: dict[str, str],
        tools: dict[int, str], finish: str | None,
    ) -> JSONObject | None:  # fmt: skip
        delta: JSONObject = dict(state.passthrough)
        state.passthrough.clear()
        for name, text in texts.items():
            if name == _FUNCTION_CALL:
                fc: JSONObject = {"arguments": text}
                meta = state.tools.get(-1, {})
                if "name" in meta:
                    fc["name"] = meta.pop("name")
                delta[_FUNCTION_CALL] = fc
            else:
                delta[name] = text
        calls = [_tool_delta(state, ti, text) for ti, text in sorted(tools.items())]
        for ti, meta in state.tools.items():
            if ti >= 0 and meta and ti not in tools:
                calls.append(_tool_delta(state, ti, ""))  # an id or name not yet sent
        if calls:
            delta["tool_calls"] = calls
        if not delta and finish is None:
            return None
        return chunk(base, index, delta, finish)

    def open_relay(self, deps: StreamDeps) -> Relay:
        return ChoiceRelay(self, deps)

    def encode_event(self, event: JSONObject) -> bytes:
        return sse.encode(event)

    done_marker = sse.DONE
    single_moderation = False

    def stop_chunk(self, base: JSONObject, index: int, refusal: str) -> JSONObject:
        return chunk(base, index, {"content": refusal}, CONTENT_FILTER)


def with_extras(chunks: list[JSONObject], answer: JSONObject) -> list[JSONObject]:
    """Each chunk carries the answer's ``moderation`` and ``aigc`` objects."""
    for c in chunks:
        for extra in ("moderation", "aigc"):
            if extra in answer:
                c[extra] = answer[extra]
    return chunks


def chunk(
    base: JSONObject, index: int, delta: JSONObject, finish_reason: str | None = None
) -> JSONObject:
    """A ``chat.completion.chunk`` reusing the upstream's id/model/created when known."""
    return {
        "id": base.get("id") or new_id("chatcmpl"),
        "object": "chat.completion.chunk",
        "created": base.get("created") or now(),
        "model": base.get("model") or "",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}],
    }


# ---------------------------------------------------------------- request validation
def _validate_message(m: Any, at: str) -> None:
    m = need_dict(m, at)
    need_str(m.get("role"), f"{at}.role", optional=False)
    content = m.get("content")
    if isinstance(content, list):
        for j, part in enumerate(content):
            part = need_dict(part, f"{at}.content[{j}]")
            for key in ("text", "refusal"):
                if key in part:
                    need_str(part[key], f"{at}.content[{j}].{key}", optional=False)
            if part.get("type") == "text" and "text" not in part:
                raise InvalidRequest(f"'{at}.content[{j}]' is a text part without 'text'.",
                                     param=f"{at}.content[{j}].text")  # fmt: skip
    elif content is not None and not isinstance(content, str):
        raise InvalidRequest(f"'{at}.content' must be a string or an array of content parts.",
                             param=f"{at}.content")  # fmt: skip
    for key in ("name", "reasoning_content", "reasoning", "refusal"):
        need_str(m.get(key), f"{at}.{key}")
    calls = m.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise InvalidRequest(f"'{at}.tool_calls' must be an array.", param=f"{at}.tool_calls")
        for k, call in enumerate(calls):
            call = need_dict(call, f"{at}.tool_calls[{k}]")
            fn = need_dict(call.get("function"), f"{at}.tool_calls[{k}].function")
            need_str(fn.get("name"), f"{at}.tool_calls[{k}].function.name")
            need_str(fn.get("arguments"), f"{at}.tool_calls[{k}].function.arguments")
    fc = m.get(_FUNCTION_CALL)
    if fc is not None:
        fc = need_dict(fc, f"{at}.function_call")
        need_str(fc.get("name"), f"{at}.function_call.name")
        need_str(fc.get("arguments"), f"{at}.function_call.arguments")


def _validate_tools(tools: Any, param: str, *, nested: bool) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise InvalidRequest(f"'{param}' must be an array.", param=param)
    for i, tool in enumerate(tools):
        tool = need_dict(tool, f"{param}[{i}]")
        at = f"{param}[{i}].function" if nested else f"{param}[{i}]"
        fn = need_dict(tool.get("function"), at) if nested else tool
        need_str(fn.get("name"), f"{at}.name")
        need_str(fn.get("description"), f"{at}.description")
        if fn.get("parameters") is not None:
            need_dict(fn["parameters"], f"{at}.parameters")


def _validate_response_format(fmt: Any) -> None:
    if fmt is None:
        return
    fmt = need_dict(fmt, "response_format")
    schema = fmt.get("json_schema")
    if schema is not None:
        schema = need_dict(schema, "response_format.json_schema")
        need_str(schema.get("name"), "response_format.json_schema.name")
        need_str(schema.get("description"), "response_format.json_schema.description")
        if schema.get("schema") is not None:
            need_dict(schema["schema"], "response_format.json_schema.schema")


def _validate_prediction(prediction: Any) -> None:
    if prediction is None:
        return
    prediction = need_dict(prediction, "prediction")
    content = prediction.get("content")
    if isinstance(content, list):
        for j, part in enumerate(content):
            part = need_dict(part, f"prediction.content[{j}]")
            need_str(part.get("text"), f"prediction.content[{j}].text")
    elif content is not None and not isinstance(content, str):
        raise InvalidRequest("'prediction.content' must be a string or an array of text parts.",
                             param="prediction.content")  # fmt: skip


def _definition_slots(fn: Any, *, schema_key: str = "parameters") -> list[Slot]:
    """A tool, function or response schema: its name and description, and its schema read
    as JSON text (descriptions of parameters reach the model too; checked, not edited)."""
    if not isinstance(fn, dict):
        return []
    slots = [*str_slot(fn, "name"), *str_slot(fn, "description")]
    schema = fn.get(schema_key)
    if isinstance(schema, dict) and schema:
        slots.append(Slot(None, None, orjson.dumps(schema).decode()))
    return slots


def _call_slots(calls: Any) -> list[Slot]:
    slots: list[Slot] = []
    if isinstance(calls, list):
        for call in calls:
            if isinstance(call, dict):
                fn = call.get("function")
                slots.extend(str_slot(fn, "name"))
                slots.extend(str_slot(fn, "arguments"))
    return slots


# ---------------------------------------------------------------- streams
def _absorb_tools(idx: int, state: ChoiceState, calls: list[Any], feed: StreamFeed) -> None:
    for call in calls:
        if not isinstance(call, dict):
            continue
        ti = call.get("index", 0)
        ti = ti if isinstance(ti, int) and ti >= 0 else 0
        meta = state.tools.setdefault(ti, {})
        for k in ("id", "type"):
            if call.get(k) is not None:
                meta[k] = call[k]
        fn = call.get("function")
        if isinstance(fn, dict):
            if isinstance(fn.get("name"), str):
                meta["name"] = fn["name"]
            args = fn.get("arguments")
            if isinstance(args, str) and args:
                feed((idx, _TOOL, ti), args)


def _tool_delta(state: ChoiceState, ti: int, text: str) -> JSONObject:
    meta = state.tools.get(ti, {})
    call: JSONObject = {"index": ti}
    for k in ("id", "type"):
        if k in meta:
            call[k] = meta.pop(k)
    fn: JSONObject = {"arguments": text}
    if "name" in meta:
        fn["name"] = meta.pop("name")
    call["function"] = fn
    return call


def _choices(answer: JSONObject) -> list[JSONObject]:
    choices = answer.get("choices")
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def _index(choice: JSONObject) -> int:
    idx = choice.get("index", 0)
    return idx if isinstance(idx, int) and idx >= 0 else 0


CHAT = ChatApi()
