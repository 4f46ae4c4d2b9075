"""Legacy text completions (``POST /v1/completions``): the prompt (a string or strings) and
``suffix`` go in, each choice's ``text`` comes out. Token-id prompts cannot be checked as
text, so they are refused rather than let through."""

from __future__ import annotations

from typing import Any

from gateway.decision import Decision
from gateway.errors import InvalidRequest
from gateway.http import sse
from gateway.http.apis.base import (
    ChoiceState,
    JSONObject,
    Relay,
    Slot,
    StreamFeed,
    need_str,
    str_slot,
    unescaped,
    validate_common,
)
from gateway.http.apis.chat import with_extras
from gateway.http.relay import ChoiceRelay
from gateway.http.responses import CONTENT_FILTER, new_id, now
from gateway.http.stream_deps import StreamDeps
from gateway.moderation.labels import Labeler

_TEXT = "text"


class TextCompletionApi:
    route = "completions"
    upstream_path = "/completions"
    label_field = _TEXT

    def validate(self, body: JSONObject) -> None:
        prompt = body.get("prompt")
        if prompt is None:
            raise InvalidRequest("Missing required parameter: 'prompt'.", param="prompt")
        ok = isinstance(prompt, str) or (
            isinstance(prompt, list) and all(isinstance(p, str) for p in prompt)
        )
        if not ok:
            raise InvalidRequest("'prompt' must be a string or an array of strings.",
                                 param="prompt")  # fmt: skip
        need_str(body.get("suffix"), "suffix")
        validate_common(body)

    def input_slots(self, body: JSONObject) -> list[Slot]:
        slots: list[Slot] = []
        prompt = body.get("prompt")
        if isinstance(prompt, str):
            slots.extend(str_slot(body, "prompt"))
        elif isinstance(prompt, list):
            slots.extend(Slot(prompt, i, p) for i, p in enumerate(prompt) if p)
        slots.extend(str_slot(body, "suffix"))
        return unescaped(slots)

    def output_slots(self, answer: JSONObject) -> list[Slot]:
        slots: list[Slot] = []
        for choice in _choices(answer):
            slots.extend(str_slot(choice, _TEXT))
        return unescaped(slots)

    def refusal(self, model: str, decision: Decision, n: int) -> JSONObject:
        return {
            "id": new_id("cmpl"),
            "object": "text_completion",
            "created": now(),
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
        }

    def refusal_chunks(self, refusal: JSONObject) -> list[JSONObject]:
        chunks = [chunk(refusal, c["index"], c["text"], CONTENT_FILTER) for c in refusal["choices"]]
        return with_extras(chunks, refusal)

    def replace_answer(self, answer: JSONObject, decision: Decision) -> None:
        for choice in _choices(answer):
            choice[_TEXT] = decision.refusal
            choice["finish_reason"] = CONTENT_FILTER
            choice["logprobs"] = None  # the replaced tokens' text must not survive here

    def label_answer(self, answer: JSONObject, labeler: Labeler, language: str) -> None:
        for choice in _choices(answer):
            if isinstance(choice.get(_TEXT), str):
                choice[_TEXT] = labeler.apply(choice[_TEXT], language)

    def whole_to_chunks(self, answer: JSONObject) -> list[JSONObject]:
        out = []
        for choice in _choices(answer):
            text = choice.get(_TEXT)
            finish = choice.get("finish_reason")
            out.append(chunk(answer, _index(choice), text if isinstance(text, str) else "",
                             finish if isinstance(finish, str) else "stop"))  # fmt: skip
        return out

    def absorb(self, choice: JSONObject, state: ChoiceState, feed: StreamFeed) -> None:
        text = choice.get(_TEXT)
        if isinstance(text, str) and text:
            feed((_index(choice), _TEXT, -1), text)

    def emit(
        self, base: JSONObject, index: int, state: ChoiceState, texts: dict[str, str],
        tools: dict[int, str], finish: str | None,
    ) -> JSONObject | None:  # fmt: skip
        text = texts.get(_TEXT, "")
        if not text and finish is None:
            return None
        return chunk(base, index, text, finish)

    def open_relay(self, deps: StreamDeps) -> Relay:
        return ChoiceRelay(self, deps)

    def encode_event(self, event: JSONObject) -> bytes:
        return sse.encode(event)

    done_marker = sse.DONE
    single_moderation = False

    def stop_chunk(self, base: JSONObject, index: int, refusal: str) -> JSONObject:
        return chunk(base, index, refusal, CONTENT_FILTER)


def chunk(base: JSONObject, index: int, text: str, finish_reason: str | None = None) -> JSONObject:
    return {
        "id": base.get("id") or new_id("cmpl"),
        "object": "text_completion",
        "created": base.get("created") or now(),
        "model": base.get("model") or "",
        "choices": [{"index": index, "text": text, "finish_reason": finish_reason,
                     "logprobs": None}],
    }  # fmt: skip


def _choices(answer: JSONObject) -> list[JSONObject]:
    choices = answer.get("choices")
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def _index(choice: Any) -> int:
    idx = choice.get("index", 0) if isinstance(choice, dict) else 0
    return idx if isinstance(idx, int) and idx >= 0 else 0


TEXT_COMPLETIONS = TextCompletionApi()
