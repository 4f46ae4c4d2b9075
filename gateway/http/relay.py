"""The stream relay of the choice-based APIs (chat and text completions).

Each text field of each choice (``content``, ``reasoning_content``, each tool call's
``arguments``, or a completion's ``text``) has its own ``StreamModerator``
(``stream_check``). The API shape (``gateway.http.apis``) says where a chunk carries text
and how a chunk is written; this module turns upstream chunks into checked ones. A delta's
role passes at once; anything the gateway does not understand is dropped rather than
forwarded unchecked. On a blocking decision the upstream connection is closed, a last chunk
carries the refusal with ``finish_reason: "content_filter"``, then ``[DONE]``.
"""

from __future__ import annotations

from gateway.decision import Decision
from gateway.http.apis.base import ChoiceShape, ChoiceState, FieldKey, JSONObject
from gateway.http.stream_check import StreamCheck
from gateway.http.stream_deps import StreamDeps

# Top-level fields of a chunk without choices (a usage report) that are safe to pass on.
_META_FIELDS = ("id", "object", "created", "model", "system_fingerprint", "service_tier", "usage")
_FUNCTION_CALL = "function_call"


class ChoiceRelay(StreamCheck):
    def __init__(self, api: ChoiceShape, deps: StreamDeps) -> None:
        super().__init__(deps)
        self.api = api
        self._choices: dict[int, ChoiceState] = {}
        self._base: JSONObject = {}

    def _feed(self, key: FieldKey, text: str) -> None:
        # Tool and function-call arguments are held whole (see StreamCheck.feed).
        self.feed(key, text, whole=key[2] >= 0 or key[1] == _FUNCTION_CALL)

    async def on_event(self, chunk: JSONObject) -> tuple[list[bytes], bool]:
        for k in ("id", "created", "model", "system_fingerprint"):
            if k in chunk and k not in self._base:
                self._base[k] = chunk[k]
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices:
            meta = {k: chunk[k] for k in _META_FIELDS if k in chunk}
            if "usage" not in meta:
                return [], False  # nothing the client needs, nothing checked
            return [self.encode({**meta, "choices": []})], False
        finishing: list[int] = []
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            idx = choice.get("index", 0)
            idx = idx if isinstance(idx, int) and idx >= 0 else 0
            state = self._choices.setdefault(idx, ChoiceState())
            self.api.absorb(choice, state, self._feed)
            if choice.get("finish_reason"):
                state.finish = str(choice["finish_reason"])
                finishing.append(idx)
        final_keys = {k for k in self.mods if k[0] in finishing}
        return await self._check_and_emit(self.take_due() | final_keys, final_keys, finishing)

    async def _check_and_emit(
        self, keys: set[FieldKey], final: set[FieldKey], finishing: list[int]
    ) -> tuple[list[bytes], bool]:
        judged = await self.judge(keys, final)
        if judged.stop is not None:
            return await self._stop(judged.stop, retract=judged.retract), True
        if finishing and all(c.finish for c in self._choices.values()):
            # The last check of the stream decides for the log; record before finishing.
            await self.record(incident=False)
        out: list[bytes] = []
        for idx in sorted(self._choices):
            chunk = self._emit_choice(idx, judged.released, idx in finishing)
            if chunk is not None:
                out.append(self.encode(chunk))
        return out, False

    def _emit_choice(
        self, idx: int, released: dict[FieldKey, str], finishing: bool
    ) -> JSONObject | None:
        state = self._choices[idx]
        finish = state.finish if finishing else None
        texts = {k[1]: v for k, v in released.items() if k[0] == idx and k[2] < 0}
        tools = {k[2]: v for k, v in released.items() if k[0] == idx and k[2] >= 0}
        labeler, language, field = self.d.labeler, self.d.ctx.language, self.api.label_field
        if texts.get(field) and not state.started:
            state.started = True
            texts[field] = labeler.stream_prefix(language) + texts[field]
        if finishing and (suffix := labeler.stream_suffix(language)):
            texts[field] = texts.get(field, "") + suffix
        chunk = self.api.emit(self._base, idx, state, texts, tools, finish)
        if chunk is not None and finish is not None:
            if (aigc := self.aigc()) is not None:
                chunk["aigc"] = aigc
            if (moderation := self.moderation(self.final_decision())) is not None:
                chunk["moderation"] = moderation
        return chunk

    async def _stop(self, decision: Decision, *, retract: bool = False) -> list[bytes]:
        """Stop generation and transmission (Interim Measures Art. 14). With ``retract``
        (a classifier verdict on text already sent), the closing chunk tells the client
        how much of each field to withdraw."""
        await self.stopped(decision)
        labeler, language = self.d.labeler, self.d.ctx.language
        out = []
        for idx in sorted(self._choices) or [0]:
            # The text already released and the refusal are AI output: label the end of it.
            state = self._choices.get(idx)
            started = state is not None and state.started
            prefix = "" if started else labeler.stream_prefix(language)
            refusal = prefix + decision.refusal + labeler.stream_suffix(language)
            chunk = self.api.stop_chunk(self._base, idx, refusal)
            moderation = self.moderation(decision, always=True)
            assert moderation is not None
            if retract:
                sent = {k[1]: m.released for k, m in self.mods.items() if k[0] == idx}
                moderation |= self.retraction(sent, self.api.label_field)
            chunk["moderation"] = moderation
            if (aigc := self.aigc()) is not None:
                chunk["aigc"] = aigc
            out.append(self.encode(chunk))
        out.append(self.done_marker)
        return out

    async def finish(self) -> tuple[list[bytes], bool]:
        """The upstream ended ([DONE] or EOF): flush whatever is still held."""
        open_choices = [i for i, c in self._choices.items() if not c.finish]
        final_keys = {k for k in self.mods if k[0] in open_choices}
        if (late := await self.drain_gate()) is not None:
            return await self._stop(late, retract=True), True
        if not final_keys and not open_choices:
            await self.record(incident=False)
            return [], False
        for i in open_choices:
            self._choices[i].finish = self._choices[i].finish or "stop"
        out, stopped = await self._check_and_emit(final_keys, final_keys, open_choices)
        if not stopped:
            await self.record(incident=False)
        return out, stopped
