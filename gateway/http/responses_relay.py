"""The stream relay of the Responses API: typed events, each text field checked before
any of it leaves.

Text arrives in delta events (``response.output_text.delta``, ``response.refusal.delta``,
``response.reasoning_summary_text.delta``, ``response.reasoning_text.delta``,
``response.function_call_arguments.delta``) and again, whole, in the ``.done`` events, the
finished items and the final ``response.completed``. The relay checks the deltas through the
stream moderators and re-emits only released text; every event that repeats text
(``.done``, ``content_part.done``, ``output_item.done``, ``response.completed``) is rewritten
from what was released, and events that announce items have their text blanked. An event
type the gateway does not know is passed only if it holds no text. Function-call arguments
are held whole until their ``.done`` event. A blocked stream ends with the refusal as one
more message and ``response.incomplete`` (``incomplete_details.reason: content_filter``).
Events are renumbered (``sequence_number``), since the relay adds and drops some.
"""

from __future__ import annotations

from typing import Any

from gateway.decision import Decision
from gateway.http.apis.base import FieldKey, JSONObject
from gateway.http.apis.responses_wire import encode, refusal_item, response_object
from gateway.http.stream_check import StreamCheck
from gateway.http.stream_deps import StreamDeps

# delta event type -> (field, the event's sub-index key); field "args" is held whole
_DELTAS = {
    "response.output_text.delta": ("text", "content_index"),
    "response.refusal.delta": ("refusal", "content_index"),
    "response.reasoning_summary_text.delta": ("summary", "summary_index"),
    "response.reasoning_text.delta": ("reasoning", "content_index"),
    "response.function_call_arguments.delta": ("args", ""),
}
# done event type -> (field, sub-index key, the key holding the whole text)
_DONES = {
    "response.output_text.done": ("text", "content_index", "text"),
    "response.refusal.done": ("refusal", "content_index", "refusal"),
    "response.reasoning_summary_text.done": ("summary", "summary_index", "text"),
    "response.reasoning_text.done": ("reasoning", "content_index", "text"),
    "response.function_call_arguments.done": ("args", "", "arguments"),
}
_PART_EVENTS = {
    "response.content_part.added": "content_index",
    "response.content_part.done": "content_index",
    "response.reasoning_summary_part.added": "summary_index",
    "response.reasoning_summary_part.done": "summary_index",
}
_ENDS = ("response.completed", "response.incomplete")
# String values that identify or describe state, never text a user reads.
_PLAIN_KEYS = frozenset({"type", "id", "item_id", "call_id", "status", "role", "object",
                         "model", "name", "reason", "service_tier", "tool_choice"})  # fmt: skip


class ResponsesRelay(StreamCheck):
    def __init__(self, deps: StreamDeps) -> None:
        super().__init__(deps)
        self._meta: dict[FieldKey, JSONObject] = {}  # item_id / indexes of each field
        self._seq = 0
        self._base: JSONObject = {}  # the upstream's response skeleton (id, model, ...)
        self._items: dict[int, JSONObject] = {}  # output items as announced
        self._started = False  # the explicit label's prefix was sent

    done_marker = b""  # a Responses stream ends with its final event, not [DONE]

    def encode(self, event: JSONObject) -> bytes:
        if "type" not in event and isinstance(event.get("error"), dict):
            error = event["error"]  # the gateway's own error, in this API's event shape
            event = {"type": "error", "code": error.get("code"), "message": error.get("message"),
                     "param": error.get("param")}  # fmt: skip
        event["sequence_number"] = self._seq
        self._seq += 1
        return encode(event)

    def error_of(self, event: JSONObject) -> Any | None:
        kind = event.get("type")
        if kind == "error":
            return event
        if kind == "response.failed":
            response = event.get("response")
            error = response.get("error") if isinstance(response, dict) else None
            return error if isinstance(error, dict) else {"code": "failed"}
        return None

    # ---------------------------------------------------------------- events
    async def on_event(self, event: JSONObject) -> tuple[list[bytes], bool]:
        kind = event.get("type")
        if kind in _DELTAS:
            field, sub = _DELTAS[kind]
            key = self._key(event, field, sub)
            delta = event.get("delta")
            if isinstance(delta, str) and delta:
                self.feed(key, delta, whole=field == "args")
            return await self._release(self.take_due(), set())
        if kind in _DONES:
            field, sub, whole_key = _DONES[kind]
            key = self._key(event, field, sub)
            self._catch_up(key, event.get(whole_key))
            out, stopped = await self._release(self.take_due() | {key}, {key})
            if stopped:
                return out, True
            event[whole_key] = self.mod(key).text
            return [*out, self.encode(event)], False
        if kind in _ENDS:
            return await self._end(event)
        if kind in ("response.created", "response.in_progress", "response.queued"):
            response = event.get("response")
            if isinstance(response, dict):
                self._base = {k: v for k, v in response.items() if k != "output"}
                response["output"] = []
            return [self.encode(event)], False
        if kind == "response.output_item.added":
            item = event.get("item")
            if isinstance(item, dict) and isinstance(event.get("output_index"), int):
                self._items[event["output_index"]] = item
                _blank(item)
            return [self.encode(event)], False
        if kind == "response.output_item.done":
            item = event.get("item")
            if isinstance(item, dict) and isinstance(event.get("output_index"), int):
                self._fill_item(event["output_index"], item)
            return [self.encode(event)], False
        if kind in _PART_EVENTS:
            part = event.get("part")
            if isinstance(part, dict):
                field = "summary" if "summary" in kind else "text"
                key = self._key(event, field, _PART_EVENTS[kind])
                if "text" in part:
                    part["text"] = self.mods[key].text if key in self.mods else ""
                if "refusal" in part:
                    rkey = self._key(event, "refusal", _PART_EVENTS[kind])
                    part["refusal"] = self.mods[rkey].text if rkey in self.mods else ""
            return [self.encode(event)], False
        # Anything else passes only when it carries no text (status events of tool calls).
        return ([self.encode(event)] if not _has_text(event) else []), False

    async def finish(self) -> tuple[list[bytes], bool]:
        """The upstream ended without a final event: flush what is held, then end."""
        if self.recorded:
            return [], False
        return await self._end({"type": "response.completed", "response": dict(self._base)})

    # ---------------------------------------------------------------- helpers
    def _key(self, event: JSONObject, field: str, sub: str) -> FieldKey:
        oi = event.get("output_index")
        oi = oi if isinstance(oi, int) and oi >= 0 else 0
        si = event.get(sub) if sub else 0
        si = si if isinstance(si, int) and si >= 0 else 0
        key = (oi, field, si)
        if key not in self._meta:
            self._meta[key] = {"item_id": event.get("item_id"), "output_index": oi}
            if sub:
                self._meta[key][sub] = si
        return key

    def _catch_up(self, key: FieldKey, whole: Any) -> None:
        """A server that sent the text only whole, or more of it than its deltas."""
        have = self.mod(key).text
        if isinstance(whole, str) and whole.startswith(have) and len(whole) > len(have):
            self.feed(key, whole[len(have) :], whole=key[1] == "args")

    async def _release(self, keys: set[FieldKey], final: set[FieldKey]) -> tuple[list[bytes], bool]:
        judged = await self.judge(keys, final)
        if judged.stop is not None:
            return await self._stop(judged.stop, retract=judged.retract), True
        out = []
        labeler, language = self.d.labeler, self.d.ctx.language
        for key, text in sorted(judged.released.items()):
            if key[1] == "text" and not self._started:
                self._started = True
                text = labeler.stream_prefix(language) + text
            kind = next(k for k, (f, _) in _DELTAS.items() if f == key[1])
            out.append(self.encode({"type": kind, **self._meta[key], "delta": text}))
        return out, False

    def _fill_item(self, oi: int, item: JSONObject) -> None:
        """An item's texts as released (what the client was sent, nothing more)."""
        kind = item.get("type")
        if kind == "message":
            for ci, part in enumerate(item.get("content") or ()):
                if isinstance(part, dict):
                    for field in ("text", "refusal"):
                        if field in part:
                            key = (oi, field, ci)
                            part[field] = self.mods[key].text if key in self.mods else ""
        elif kind == "reasoning":
            for name, field in (("summary", "summary"), ("content", "reasoning")):
                for si, part in enumerate(item.get(name) or ()):
                    if isinstance(part, dict) and "text" in part:
                        key = (oi, field, si)
                        part["text"] = self.mods[key].text if key in self.mods else ""
        elif kind == "function_call":
            key = (oi, "args", 0)
            item["arguments"] = self.mods[key].text if key in self.mods else ""
        else:
            _blank(item)

    async def _end(self, event: JSONObject) -> tuple[list[bytes], bool]:
        """``response.completed`` / ``incomplete``: release the rest, rewrite the response
        from what was released, attach moderation and labels, record."""
        if (late := await self.drain_gate()) is not None:
            return await self._stop(late, retract=True), True
        open_keys = {k for k, m in self.mods.items() if m.has_unchecked or m.held}
        out, stopped = await self._release(open_keys, open_keys)
        if stopped:
            return out, True
        response = event.get("response")
        response = response if isinstance(response, dict) else dict(self._base)
        items = response.get("output")
        for oi, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                self._fill_item(oi, item)
        if "output_text" in response:
            response["output_text"] = "".join(
                m.text for k, m in sorted(self.mods.items()) if k[1] == "text"
            )
        suffix = self.d.labeler.stream_suffix(self.d.ctx.language)
        if suffix:
            out.append(self._delta_after(suffix))
            _append_label(response, suffix)
        await self.record(incident=False)
        if (moderation := self.moderation(self.final_decision())) is not None:
            response["moderation"] = moderation
        if (aigc := self.aigc()) is not None:
            response["aigc"] = aigc
        event["response"] = response
        return [*out, self.encode(event)], False

    def _delta_after(self, text: str) -> bytes:
        texts = sorted(k for k in self.mods if k[1] == "text")
        meta = self._meta[texts[-1]] if texts else {"output_index": 0, "content_index": 0}
        return self.encode({"type": "response.output_text.delta", **meta, "delta": text})

    async def _stop(self, decision: Decision, *, retract: bool = False) -> list[bytes]:
        """Stop generation (Interim Measures Art. 14): the refusal as one more message,
        then ``response.incomplete`` with what was released and the refusal."""
        await self.stopped(decision)
        labeler, lang = self.d.labeler, self.d.ctx.language
        prefix = "" if self._started else labeler.stream_prefix(lang)
        refusal = prefix + decision.refusal + labeler.stream_suffix(lang)
        item = refusal_item(refusal)
        oi = max(self._items, default=-1) + 1
        ids = {"item_id": item["id"], "output_index": oi, "content_index": 0}
        empty = {**item, "content": []}
        out = [
            self.encode({"type": "response.output_item.added", "output_index": oi, "item": empty}),
            self.encode({"type": "response.output_text.delta", **ids, "delta": refusal}),
            self.encode({"type": "response.output_text.done", **ids, "text": refusal}),
            self.encode({"type": "response.output_item.done", "output_index": oi, "item": item}),
        ]
        released = []
        for i, announced in sorted(self._items.items()):
            filled = dict(announced)
            self._fill_item(i, filled)
            released.append(filled)
        model = self._base.get("model") if isinstance(self._base.get("model"), str) else ""
        response = response_object(str(model or ""), "incomplete", [*released, item],
                                   content_filter=True)  # fmt: skip
        if isinstance(self._base.get("id"), str):
            response["id"] = self._base["id"]
        moderation = self.moderation(decision, always=True)
        assert moderation is not None
        if retract:
            sent: dict[str, int] = {}
            for key, mod in self.mods.items():
                name = {"text": "output_text"}.get(key[1], key[1])
                sent[name] = sent.get(name, 0) + mod.released
            moderation |= self.retraction(sent, "output_text")
        response["moderation"] = moderation
        if (aigc := self.aigc()) is not None:
            response["aigc"] = aigc
        out.append(self.encode({"type": "response.incomplete", "response": response}))
        return out


def _blank(item: JSONObject) -> None:
    """An announced item without its text (the text arrives checked, in deltas)."""
    for part in item.get("content") or ():
        if isinstance(part, dict):
            for field in ("text", "refusal"):
                if field in part:
                    part[field] = ""
    for part in item.get("summary") or ():
        if isinstance(part, dict) and "text" in part:
            part["text"] = ""
    if "arguments" in item:
        item["arguments"] = ""


def _append_label(response: JSONObject, suffix: str) -> None:
    items = response.get("output")
    for item in reversed(items if isinstance(items, list) else []):
        if isinstance(item, dict) and item.get("type") == "message":
            parts = [p for p in item.get("content") or () if isinstance(p, dict)
                     and p.get("type") == "output_text"]  # fmt: skip
            if parts:
                parts[-1]["text"] = str(parts[-1].get("text", "")) + suffix
                return


def _has_text(value: Any, key: str = "") -> bool:
    if isinstance(value, str):
        return bool(value) and key not in _PLAIN_KEYS
    if isinstance(value, dict):
        return any(_has_text(v, k) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_text(v, key) for v in value)
    return False
