"""The two completion APIs the gateway moderates, described as data.

Chat completions and legacy text completions differ only in where texts live and how
responses and stream chunks are shaped; the proxy code is shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway import body as bodies
from gateway import extract, responses
from gateway.decision import Decision
from gateway.extract import Slot


@dataclass(frozen=True, slots=True)
class Flavor:
    route: str  # metrics label and upstream path
    path: str
    validate: Callable[[dict[str, Any]], None]
    input_slots: Callable[[dict[str, Any]], list[Slot]]
    output_slots: Callable[[dict[str, Any]], list[Slot]]
    refusal: Callable[[str, Decision, int], dict[str, Any]]
    chat: bool


CHAT = Flavor(
    route="chat_completions",
    path="/chat/completions",
    validate=bodies.validate_chat,
    input_slots=extract.chat_input_slots,
    output_slots=extract.chat_output_slots,
    refusal=responses.refusal_chat_completion,
    chat=True,
)

COMPLETIONS = Flavor(
    route="completions",
    path="/completions",
    validate=bodies.validate_completion,
    input_slots=extract.completion_input_slots,
    output_slots=extract.completion_output_slots,
    refusal=responses.refusal_text_completion,
    chat=False,
)
