"""What every moderated API shape provides, and the text slots it finds in bodies.

An API shape (chat completions, text completions) knows where its texts live in a request
and in an answer, how its refusals and stream chunks look, and how a stream's choices carry
text. The exchange and the stream relay are written once against this protocol, so they
never ask which API they serve.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.decision import Decision
from gateway.errors import InvalidRequest
from gateway.http.stream_deps import StreamDeps
from gateway.moderation.labels import Labeler

JSONObject = dict[str, Any]
# A text field of a streamed choice: (choice index, field name, tool call index or -1).
FieldKey = tuple[int, str, int]


@dataclass(slots=True)
class Slot:
    """One text in a body and where it lives, so a redaction can be written back. A slot
    without a container (a tool schema checked as its JSON text) is checked, never edited."""

    container: Any  # the dict or list holding the text; None for a derived, read-only text
    key: Any  # its key or index there
    text: str

    def set(self, text: str) -> None:
        if self.container is not None:
            self.container[self.key] = text
            self.text = text


@dataclass(slots=True)
class ChoiceState:
    """What a stream relay keeps per choice between chunks."""

    passthrough: dict[str, Any] = field(default_factory=dict)  # role etc., sent at once
    tools: dict[int, dict[str, Any]] = field(default_factory=dict)  # id/type/name per tool
    finish: str | None = None
    started: bool = False  # first text already sent (for a label at the start)


class Relay(Protocol):
    """A moderated stream: the bytes to send to the client."""

    def events(self) -> AsyncIterator[bytes]: ...


class StreamFeed(Protocol):
    """Where an API shape puts the text it finds in a stream chunk."""

    def __call__(self, key: FieldKey, text: str) -> None: ...


class ApiShape(Protocol):
    """One moderated API, described by what differs between APIs."""

    route: str  # metrics label, record route
    upstream_path: str  # appended to the upstream base URL
    label_field: str  # the text field that carries the explicit AI label in streams

    def validate(self, body: JSONObject) -> None:
        """Raise ``InvalidRequest`` naming the parameter for anything the gateway cannot
        check (a text that is not a string, a malformed part)."""
        ...

    def input_slots(self, body: JSONObject) -> list[Slot]:
        """Every text of a request that reaches the model."""
        ...

    def output_slots(self, answer: JSONObject) -> list[Slot]:
        """Every text of a whole answer that reaches the user."""
        ...

    def refusal(self, model: str, decision: Decision, n: int) -> JSONObject:
        """A whole answer that carries the refusal."""
        ...

    def refusal_chunks(self, refusal: JSONObject) -> list[JSONObject]:
        """The refusal answer as stream chunks (for a blocked streaming request)."""
        ...

    def replace_answer(self, answer: JSONObject, decision: Decision) -> None:
        """Put the refusal in place of every choice's text."""
        ...

    def label_answer(self, answer: JSONObject, labeler: Labeler, language: str) -> None:
        """Add the explicit AI-content label to every choice's text."""
        ...

    def whole_to_chunks(self, answer: JSONObject) -> list[JSONObject]:
        """A whole answer as stream chunks (an upstream that ignored ``stream: true``)."""
        ...

    def open_relay(self, deps: StreamDeps) -> Relay:
        """The relay that moderates this API's upstream stream."""
        ...

    def encode_event(self, event: JSONObject) -> bytes:
        """One event of this API's stream, on the wire."""
        ...

    done_marker: bytes  # what ends this API's stream (b"" for none)
    single_moderation: bool  # the moderation field holds one result per direction


class ChoiceShape(ApiShape, Protocol):
    """An API whose stream is chunks of ``choices`` (chat and text completions)."""

    def absorb(self, choice: JSONObject, state: ChoiceState, feed: StreamFeed) -> None:
        """Hand a streamed choice's texts to ``feed``; keep the rest in ``state``."""
        ...

    def emit(
        self, base: JSONObject, index: int, state: ChoiceState, texts: dict[str, str],
        tools: dict[int, str], finish: str | None,
    ) -> JSONObject | None:  # fmt: skip
        """The chunk that releases checked ``texts`` (by field) and tool-call argument
        text (by tool index) of one choice; None when there is nothing to send."""
        ...

    def stop_chunk(self, base: JSONObject, index: int, refusal: str) -> JSONObject:
        """The last chunk of a stream stopped by moderation."""
        ...


def str_slot(container: Any, key: Any) -> Iterator[Slot]:
    value = container.get(key) if isinstance(container, dict) else None
    if isinstance(value, str) and value:
        yield Slot(container, key, value)


_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}")


def unescaped(slots: list[Slot]) -> list[Slot]:
    """Slots plus, for each text holding JSON ``\\uXXXX`` escapes, a read-only slot with the
    escapes decoded: a model reads ``"\\u70b8\\u5f39"`` in tool arguments as 炸弹, so
    the check must too."""
    out = list(slots)
    for slot in slots:
        if _ESCAPE.search(slot.text):
            decoded = _decode_escapes(slot.text)
            if decoded != slot.text:
                out.append(Slot(None, None, decoded))
    return out


def _decode_escapes(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        return chr(int(m.group(0)[2:], 16))

    return _ESCAPE.sub(one, text)


def need_str(value: Any, param: str, *, optional: bool = True) -> None:
    """A field the model or the user will read must be text the gateway can check."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidRequest(f"'{param}' must be a string.", param=param)


def need_dict(value: Any, param: str) -> JSONObject:
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{param}' must be an object.", param=param)
    return value


def validate_common(body: JSONObject) -> None:
    """Parameters both completion APIs share."""
    need_str(body.get("model"), "model")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean.", param="stream")
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128):
        raise InvalidRequest("'n' must be an integer between 1 and 128.", param="n")
    need_str(body.get("user"), "user")
