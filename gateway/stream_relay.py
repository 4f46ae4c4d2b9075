"""Relaying an upstream SSE stream to the client through the stream moderators.

Each text field of each choice (``content``, ``reasoning_content``, each tool call's
``arguments``, or a completion's ``text``) has its own ``StreamModerator``. Upstream chunks
are re-emitted carrying only text that has passed a check; everything else in a delta
(role, tool call ids and names) passes at once. On a blocking decision the upstream
connection is closed (stop generation), a last chunk carries the refusal with
``finish_reason: "content_filter"``, then ``[DONE]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from gateway import responses, sse
from gateway.decision import Action, Decision, Direction
from gateway.errors import GatewayError
from gateway.extract import OUTPUT_TEXT_FIELDS
from gateway.flavors import Flavor
from gateway.labels import Labeler
from gateway.metrics import Metrics
from gateway.pipeline import CheckContext, Pipeline
from gateway.recording import Recorder, RequestInfo
from gateway.stream_moderator import StreamModerator
from gateway.upstream import iter_lines

FieldKey = tuple[int, str, int]


def _stream_failed(e: BaseException) -> dict[str, Any]:
    """The in-band error event for an upstream that broke mid-stream."""
    return {
        "error": {
            "message": f"The upstream stream failed: {type(e).__name__}.",
            "type": "upstream_error",
            "param": None,
            "code": "upstream_stream_failed",
        }
    }


def _consume(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()  # (choice index, field name, tool call index or -1)


@dataclass(slots=True)
class _Choice:
    passthrough: dict[str, Any] = field(default_factory=dict)  # role etc., sent at once
    tools: dict[int, dict[str, Any]] = field(default_factory=dict)  # id/type/name per tool
    finish: str | None = None
    started: bool = False  # first text already sent (for a label at the start)


class StreamRelay:
    def __init__(
        self,
        *,
        flavor: Flavor,
        pipeline: Pipeline,
        ctx: CheckContext,
        info: RequestInfo,
        recorder: Recorder,
        metrics: Metrics,
        labeler: Labeler,
        upstream: aiohttp.ClientResponse,
        pending: asyncio.Future[None] | None = None,
    ) -> None:
        self.flavor = flavor
        self.pipeline = pipeline
        self.ctx = ctx
        self.info = info
        self.recorder = recorder
        self.metrics = metrics
        self.labeler = labeler
        self.upstream = upstream
        self.pending = pending  # the input decision's record, still committing
        active = pipeline.policy_for(ctx.tenant)
        self._spec = active.policy.stream
        self._holdback = active.holdback_chars
        self._normalize = active.normalize
        self._prefix = (
            active.matcher.pending_prefix_len if self._spec.holdback == "prefix" else None
        )
        self._mods: dict[FieldKey, StreamModerator] = {}
        self._choices: dict[int, _Choice] = {}
        self._base: dict[str, Any] = {}
        self._worst: Decision | None = None
        self._last: Decision | None = None
        self._recorded = False

    def _mod(self, key: FieldKey) -> StreamModerator:
        mod = self._mods.get(key)
        if mod is None:
            context = self._spec.classifier_window_chars if self.pipeline.classifier else 0
            mod = StreamModerator(
                holdback=self._holdback,
                every=self._spec.check_every_chars,
                punctuation=self._spec.check_on_punctuation,
                context=context,
                normalize_config=self._normalize,
                pending_prefix=self._prefix,
            )
            self._mods[key] = mod
        return mod

    async def events(self) -> AsyncIterator[bytes]:
        """The bytes to send to the client. Closing this iterator closes the upstream."""
        try:
            async for payload in sse.iter_events(iter_lines(self.upstream)):
                if payload.strip() == "[DONE]":
                    break
                try:
                    chunk = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    continue  # a malformed event is dropped, not forwarded unchecked
                if not isinstance(chunk, dict):
                    continue
                if "error" in chunk:
                    yield sse.encode(chunk)
                    return
                out, stopped = await self._on_chunk(chunk)
                for item in out:
                    yield item
                if stopped:
                    return
            out, stopped = await self._finish_all()
            for item in out:
                yield item
            if not stopped:
                yield sse.DONE
        except aiohttp.ClientError as e:
            # The upstream broke mid-stream: tell the client in-band; nothing unchecked leaks.
            yield sse.encode(_stream_failed(e))
        except GatewayError as e:  # e.g. the decision log is down in fail-closed mode
            yield sse.encode(e.body())
        finally:
            self.upstream.close()
            if self.pending is not None and not self.pending.done():
                # The client left early: let the record finish; its outcome is logged there.
                self.pending.add_done_callback(_consume)

    async def _on_chunk(self, chunk: dict[str, Any]) -> tuple[list[bytes], bool]:
        for k in ("id", "created", "model", "system_fingerprint"):
            if k in chunk and k not in self._base:
                self._base[k] = chunk[k]
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices:
            return [sse.encode(chunk)], False  # usage-only and similar chunks
        due: set[FieldKey] = set()
        finishing: list[int] = []
        for choice in choices:
            if isinstance(choice, dict):
                self._absorb(choice, due, finishing)
        final_keys = {k for k in self._mods if k[0] in finishing}
        return await self._check_and_emit(due | final_keys, final_keys, finishing)

    def _absorb(self, choice: dict[str, Any], due: set[FieldKey], finishing: list[int]) -> None:
        idx = choice.get("index", 0)
        if not isinstance(idx, int):
            idx = 0
        state = self._choices.setdefault(idx, _Choice())
        if self.flavor.chat:
            delta = choice.get("delta") or {}
            if isinstance(delta, dict):
                for name, value in delta.items():
                    if name in OUTPUT_TEXT_FIELDS and isinstance(value, str):
                        if value and self._mod((idx, name, -1)).feed(value):
                            due.add((idx, name, -1))
                    elif name == "tool_calls" and isinstance(value, list):
                        self._absorb_tools(idx, state, value, due)
                    elif name not in OUTPUT_TEXT_FIELDS and value is not None:
                        state.passthrough[name] = value
        else:
            text = choice.get("text")
            if isinstance(text, str) and text and self._mod((idx, "text", -1)).feed(text):
                due.add((idx, "text", -1))
        if choice.get("finish_reason"):
            state.finish = str(choice["finish_reason"])
            finishing.append(idx)

    def _absorb_tools(self, idx: int, state: _Choice, calls: list[Any], due: set[FieldKey]) -> None:
        for call in calls:
            if not isinstance(call, dict):
                continue
            ti = call.get("index", 0)
            ti = ti if isinstance(ti, int) else 0
            meta = state.tools.setdefault(ti, {})
            for k in ("id", "type"):
                if call.get(k) is not None:
                    meta[k] = call[k]
            fn = call.get("function")
            if isinstance(fn, dict):
                if fn.get("name") is not None:
                    meta["name"] = fn["name"]
                args = fn.get("arguments")
                if isinstance(args, str) and args and self._mod((idx, "tool", ti)).feed(args):
                    due.add((idx, "tool", ti))

    async def _check_and_emit(
        self, keys: set[FieldKey], final: set[FieldKey], finishing: list[int]
    ) -> tuple[list[bytes], bool]:
        released: dict[FieldKey, str] = {}
        keys = {k for k in keys if self._mods[k].has_unchecked or k in final}
        if keys:
            ordered = sorted(keys)
            windows = [self._mods[k].window() for k in ordered]
            decision = await self.pipeline.check(
                [w for w, _ in windows], Direction.OUTPUT, self.ctx
            )
            self._note(decision)
            if decision.blocked:
                return await self._stop(decision), True
            if decision.action is Action.REDACT and decision.redacted is not None:
                for k, (_, start), new in zip(ordered, windows, decision.redacted, strict=True):
                    self._mods[k].replace_unreleased(start, new)
            for k in ordered:
                mod = self._mods[k]
                text = mod.passed(final=k in final)
                self.metrics.stream_holdback_chars.observe(mod.held)
                if text:
                    released[k] = text
        out: list[bytes] = []
        if finishing:
            # The last check of the stream decides for the log; record before finishing.
            await self._record_if_done(finishing)
        for idx in sorted(self._choices):
            chunk = self._emit_choice(idx, released, idx in finishing)
            if chunk is not None:
                out.append(sse.encode(chunk))
        return out, False

    def _emit_choice(
        self, idx: int, released: dict[FieldKey, str], finishing: bool
    ) -> dict[str, Any] | None:
        state = self._choices[idx]
        finish = state.finish if finishing else None
        texts = {k[1]: v for k, v in released.items() if k[0] == idx and k[1] != "tool"}
        label_field = "content" if self.flavor.chat else "text"
        if texts.get(label_field) and not state.started:
            state.started = True
            texts[label_field] = self.labeler.stream_prefix(self.ctx.language) + texts[label_field]
        if finishing:
            suffix = self.labeler.stream_suffix(self.ctx.language)
            if suffix:
                texts[label_field] = texts.get(label_field, "") + suffix
        if not self.flavor.chat:
            text = texts.get("text", "")
            if not text and finish is None:
                return None
            chunk = responses.text_chunk(self._base, idx, text, finish)
            return self._with_aigc(chunk, finish)
        delta: dict[str, Any] = dict(state.passthrough)
        state.passthrough.clear()
        delta.update(texts)
        calls = []
        for (ci, name, ti), text in sorted(released.items()):
            if ci == idx and name == "tool":
                calls.append(self._tool_delta(state, ti, text))
        for ti, meta in state.tools.items():
            if meta and not any(c["index"] == ti for c in calls):
                calls.append(self._tool_delta(state, ti, ""))
        if calls:
            delta["tool_calls"] = calls
        if not delta and finish is None:
            return None
        return self._with_aigc(responses.chat_chunk(self._base, idx, delta, finish), finish)

    def _with_aigc(self, chunk: dict[str, Any], finish: str | None) -> dict[str, Any]:
        if finish is not None:
            aigc = self.labeler.implicit(self.info.request_id)
            if aigc is not None:
                chunk["aigc"] = aigc
        return chunk

    @staticmethod
    def _tool_delta(state: _Choice, ti: int, text: str) -> dict[str, Any]:
        meta = state.tools.get(ti, {})
        call: dict[str, Any] = {"index": ti}
        for k in ("id", "type"):
            if k in meta:
                call[k] = meta.pop(k)
        fn: dict[str, Any] = {"arguments": text}
        if "name" in meta:
            fn["name"] = meta.pop("name")
        call["function"] = fn
        return call

    def _note(self, decision: Decision) -> None:
        self._last = decision
        if self._worst is None or decision.action.severity > self._worst.action.severity:
            self._worst = decision

    async def _record_if_done(self, finishing: list[int]) -> None:
        if all(c.finish for c in self._choices.values()):
            await self._record(incident=False)

    async def _record(self, *, incident: bool) -> None:
        decision = self._worst or self._last
        if decision is None or self._recorded:
            return
        self._recorded = True
        self.pipeline.count(decision)
        texts = [m.text for m in self._mods.values()]
        output = self.recorder.record(decision, self.info, texts, incident=incident)
        if self.pending is not None:
            await asyncio.gather(self.pending, output)
        else:
            await output

    async def _stop(self, decision: Decision) -> list[bytes]:
        """Stop generation and transmission (Interim Measures Art. 14)."""
        self.upstream.close()
        self._worst = decision
        await self._record(incident=True)
        indices = sorted(self._choices) or [0]
        out = []
        for idx in indices:
            if self.flavor.chat:
                chunk = responses.chat_chunk(
                    self._base, idx, {"content": decision.refusal}, responses.CONTENT_FILTER
                )
            else:
                chunk = responses.text_chunk(
                    self._base, idx, decision.refusal, responses.CONTENT_FILTER
                )
            chunk["moderation"] = decision.summary()
            out.append(sse.encode(chunk))
        out.append(sse.DONE)
        return out

    async def _finish_all(self) -> tuple[list[bytes], bool]:
        """The upstream ended ([DONE] or EOF): flush whatever is still held."""
        pending = [i for i, c in self._choices.items() if not c.finish]
        final_keys = {k for k in self._mods if k[0] in pending}
        if not final_keys and not pending:
            await self._record(incident=False)
            return [], False
        for i in pending:
            self._choices[i].finish = self._choices[i].finish or "stop"
        out, stopped = await self._check_and_emit(final_keys, final_keys, pending)
        if not stopped:
            await self._record(incident=False)
        return out, stopped
