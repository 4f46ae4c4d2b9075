"""Finding every text in an OpenAI-style body that moderation must see.

Each text comes back as a ``Slot`` that remembers where it lives, so a ``redact`` decision can
write the cleaned text back into the body before it goes upstream or to the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Slot:
    container: Any  # the dict or list holding the text
    key: Any  # its key or index there
    text: str

    def set(self, text: str) -> None:
        self.container[self.key] = text
        self.text = text


def _str_slot(container: Any, key: Any) -> Iterator[Slot]:
    value = container.get(key) if isinstance(container, dict) else None
    if isinstance(value, str) and value:
        yield Slot(container, key, value)


def _tool_call_slots(calls: Any) -> Iterator[Slot]:
    if not isinstance(calls, list):
        return
    for call in calls:
        if isinstance(call, dict):
            yield from _str_slot(call.get("function"), "arguments")


def chat_input_slots(body: dict[str, Any]) -> list[Slot]:
    """All texts the model will see: every message of every role, every text part,
    tool-call arguments and tool results (which are ``tool`` messages)."""
    slots: list[Slot] = []
    for m in body.get("messages") or ():
        if not isinstance(m, dict):
            continue
        content = m.get("content")
        if isinstance(content, str):
            if content:
                slots.append(Slot(m, "content", content))
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict):
                    slots.extend(_str_slot(part, "text"))
        slots.extend(_tool_call_slots(m.get("tool_calls")))
        slots.extend(_str_slot(m.get("function_call"), "arguments"))
    return slots


def completion_input_slots(body: dict[str, Any]) -> list[Slot]:
    slots: list[Slot] = []
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        slots.extend(_str_slot(body, "prompt"))
    elif isinstance(prompt, list):
        slots.extend(Slot(prompt, i, p) for i, p in enumerate(prompt) if isinstance(p, str) and p)
    slots.extend(_str_slot(body, "suffix"))
    return slots


# Fields of an assistant message (or a stream delta) that reach the user as text.
# ``reasoning_content`` is what DeepSeek-style reasoning models stream; ``reasoning`` is the
# name some other servers (vLLM, OpenRouter) use.
OUTPUT_TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")


def chat_output_slots(response: dict[str, Any]) -> list[Slot]:
    slots: list[Slot] = []
    for choice in response.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        if not isinstance(message, dict):
            continue
        for field in OUTPUT_TEXT_FIELDS:
            slots.extend(_str_slot(message, field))
        slots.extend(_tool_call_slots(message.get("tool_calls")))
        slots.extend(_str_slot(message.get("function_call"), "arguments"))
    return slots


def completion_output_slots(response: dict[str, Any]) -> list[Slot]:
    slots: list[Slot] = []
    for choice in response.get("choices") or ():
        if isinstance(choice, dict):
            slots.extend(_str_slot(choice, "text"))
    return slots


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def detect_language(texts: list[str], default: str = "zh") -> str:
    """``zh`` or ``en`` for the refusal text, judged from the last text the user wrote."""
    for text in reversed(texts):
        sample = text[-400:]
        cjk = sum(1 for ch in sample if _is_cjk(ch))
        latin = sum(1 for ch in sample if ch.isascii() and ch.isalpha())
        if cjk or latin:
            return "zh" if cjk * 3 >= latin else "en"
    return default
