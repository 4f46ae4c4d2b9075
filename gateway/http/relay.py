"""Relaying an upstream SSE stream to the client through the stream moderators.

Each text field of each choice (``content``, ``reasoning_content``, each tool call's
``arguments``, or a completion's ``text``) has its own ``StreamModerator``. The API shape
(``gateway.http.apis``) says where a chunk carries text and how a chunk is written; this
module decides when text is checked and released. Upstream chunks are re-emitted carrying
only text that has passed a check; a delta's role passes at once, and anything the gateway
does not understand is dropped rather than forwarded unchecked. On a blocking decision the
upstream connection is closed (stop generation), a last chunk carries the refusal with
``finish_reason: "content_filter"``, then ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import aiohttp
import orjson

from gateway.audit.recording import Ending, Recorder, RequestInfo
from gateway.decision import Action, Decision, Direction
from gateway.errors import GatewayError
from gateway.http import sse
from gateway.http.apis.base import ApiShape, ChoiceState, FieldKey, JSONObject, Slot, unescaped
from gateway.http.sse import SSEError
from gateway.http.upstream import iter_lines
from gateway.metrics import Metrics
from gateway.moderation.labels import Labeler
from gateway.moderation.pipeline import CheckContext, Pipeline
from gateway.moderation.stream_moderator import StreamModerator
from gateway.shadow import Shadow

_FUNCTION_CALL = "function_call"
# Top-level fields of a chunk without choices (a usage report) that are safe to pass on.
_META_FIELDS = ("id", "object", "created", "model", "system_fingerprint", "service_tier", "usage")


def _stream_failed(e: BaseException) -> JSONObject:
    """The in-band error event for an upstream that broke mid-stream."""
    return {
        "error": {
            "message": f"The upstream stream failed: {type(e).__name__}.",
            "type": "upstream_error",
            "param": None,
            "code": "upstream_stream_failed",
        }
    }


_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _upstream_error_event(error: Any) -> JSONObject:
    """The gateway's own in-band error event for an error event of the upstream."""
    code = error.get("code") if isinstance(error, dict) else None
    named = code if isinstance(code, str) and _CODE.match(code) else "unknown"
    return {
        "error": {
            "message": f"The upstream reported an error during generation (code {named}).",
            "type": "upstream_error",
            "param": None,
            "code": "upstream_stream_error",
        }
    }


def _consume(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()


class StreamRelay:
    def __init__(
        self,
        *,
        api: ApiShape,
        pipeline: Pipeline,
        ctx: CheckContext,
        info: RequestInfo,
        recorder: Recorder,
        metrics: Metrics,
        labeler: Labeler,
        upstream: aiohttp.ClientResponse,
        pending: asyncio.Future[None] | None = None,
        spawn: Callable[[Coroutine[Any, Any, None]], None] | None = None,
        shadow: Shadow | None = None,
    ) -> None:
        self.api = api
        self.pipeline = pipeline
        self.ctx = ctx
        self.info = info
        self.recorder = recorder
        self.metrics = metrics
        self.labeler = labeler
        self.upstream = upstream
        self.pending = pending  # the input decision's record, still committing
        # Runs the record of a stream whose client left: that work outlives the request.
        self._spawn = spawn
        self.shadow = shadow  # sees the stream's final decision (console shadow runs)
        active = pipeline.policy_for(ctx.tenant)
        self._spec = active.policy.stream
        self._holdback = active.holdback_chars
        self._normalize = active.normalize
        self._prefix = (
            active.matcher.pending_prefix_len if self._spec.holdback == "prefix" else None
        )
        self._mods: dict[FieldKey, StreamModerator] = {}
        self._choices: dict[int, ChoiceState] = {}
        self._base: JSONObject = {}
        self._worst: Decision | None = None
        self._last: Decision | None = None
        self._recorded = False
        self._due: set[FieldKey] = set()

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

    def _feed(self, key: FieldKey, text: str) -> None:
        # Tool and function-call arguments are held whole until their choice finishes and
        # then checked together with their JSON-unescaped form: "\\u70b8\\u5f39" is 炸弹 to
        # whoever runs the call. A client shows arguments only once a call is complete.
        if self._mod(key).feed(text) and key[2] < 0 and key[1] != _FUNCTION_CALL:
            self._due.add(key)

    async def events(self) -> AsyncIterator[bytes]:
        """The bytes to send to the client. Closing this iterator closes the upstream.

        Whatever ends the stream, its output record is written once, naming the ending: a
        stream cut by the client, by an upstream failure or error event, or by moderation
        is logged like a complete one."""
        ending = Ending.COMPLETE
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
                    # The upstream's own words are not forwarded: they may hold text that
                    # was never checked. Its error code is, when it looks like one.
                    ending = Ending.UPSTREAM_ERROR
                    await self._settle(ending)
                    yield sse.encode(_upstream_error_event(chunk["error"]))
                    return
                out, stopped = await self._on_chunk(chunk)
                if out:
                    await self._input_kept()
                for item in out:
                    yield item
                if stopped:
                    ending = Ending.BLOCKED
                    return
            out, stopped = await self._finish_all()
            await self._input_kept()
            for item in out:
                yield item
            if stopped:
                ending = Ending.BLOCKED
            else:
                yield sse.DONE
        except (aiohttp.ClientError, SSEError) as e:
            # The upstream broke mid-stream: tell the client in-band; nothing unchecked leaks.
            ending = Ending.UPSTREAM_FAILED
            await self._settle(ending)
            yield sse.encode(_stream_failed(e))
        except GatewayError as e:  # e.g. the decision log is down in fail-closed mode
            ending = Ending.LOG_UNAVAILABLE
            yield sse.encode(e.body())
        except BaseException:
            ending = Ending.CLIENT_GONE  # cancelled: the client left mid-stream
            raise
        finally:
            self.upstream.close()
            if not self._recorded and self._spawn is not None:
                # No await here: a cancelled request's scope would cancel it at once.
                self._recorded = True
                self._spawn(self._record_late(ending))
            elif self.pending is not None and not self.pending.done():
                self.pending.add_done_callback(_consume)

    async def _input_kept(self) -> None:
        """Nothing reaches the client before the input record is durable (fail closed)."""
        if self.pending is not None and not self.pending.done():
            await self.pending

    async def _settle(self, ending: Ending) -> None:
        """Record the stream now, with what it produced so far, before telling the client."""
        if not self._recorded:
            self._recorded = True
            await self._record_late(ending)

    async def _record_late(self, ending: Ending) -> None:
        """The output record of a stream that did not finish: the text it produced so far
        is judged once more, whole, so the record says what the upstream really sent."""
        if self.pending is not None:
            try:
                await self.pending
            except GatewayError:
                pass  # the input record's failure was already the request's answer
        texts = [m.text for m in self._mods.values() if m.text]
        decision = await self.pipeline.check(texts, Direction.OUTPUT, self.ctx)
        worst = self._worst
        if worst is not None and worst.action.severity > decision.action.severity:
            decision = worst
        self.pipeline.count(decision)
        await self.recorder.record(decision, self.info, texts, ending=ending)

    async def _on_chunk(self, chunk: JSONObject) -> tuple[list[bytes], bool]:
        for k in ("id", "created", "model", "system_fingerprint"):
            if k in chunk and k not in self._base:
                self._base[k] = chunk[k]
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices:
            meta = {k: chunk[k] for k in _META_FIELDS if k in chunk}
            if "usage" not in meta:
                return [], False  # nothing the client needs, nothing checked
            return [sse.encode({**meta, "choices": []})], False
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
        due, self._due = self._due, set()
        final_keys = {k for k in self._mods if k[0] in finishing}
        return await self._check_and_emit(due | final_keys, final_keys, finishing)

    async def _check_and_emit(
        self, keys: set[FieldKey], final: set[FieldKey], finishing: list[int]
    ) -> tuple[list[bytes], bool]:
        released: dict[FieldKey, str] = {}
        keys = {k for k in keys if self._mods[k].has_unchecked or k in final}
        if keys:
            ordered = sorted(keys)
            windows = [self._mods[k].window() for k in ordered]
            texts = [w for w, _ in windows]
            texts += [s.text for s in unescaped([Slot(None, None, w) for w in texts])[len(texts) :]]
            decision = await self.pipeline.check(texts, Direction.OUTPUT, self.ctx)
            self._note(decision)
            if decision.blocked:
                return await self._stop(decision), True
            if decision.action is Action.REDACT and decision.redacted is not None:
                redacted = decision.redacted[: len(ordered)]
                for k, (_, start), new in zip(ordered, windows, redacted, strict=True):
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
            await self._record_if_done()
        for idx in sorted(self._choices):
            chunk = self._emit_choice(idx, released, idx in finishing)
            if chunk is not None:
                out.append(sse.encode(chunk))
        return out, False

    def _emit_choice(
        self, idx: int, released: dict[FieldKey, str], finishing: bool
    ) -> JSONObject | None:
        state = self._choices[idx]
        finish = state.finish if finishing else None
        texts = {k[1]: v for k, v in released.items() if k[0] == idx and k[2] < 0}
        tools = {k[2]: v for k, v in released.items() if k[0] == idx and k[2] >= 0}
        label_field = self.api.label_field
        if texts.get(label_field) and not state.started:
            state.started = True
            texts[label_field] = self.labeler.stream_prefix(self.ctx.language) + texts[label_field]
        if finishing:
            suffix = self.labeler.stream_suffix(self.ctx.language)
            if suffix:
                texts[label_field] = texts.get(label_field, "") + suffix
        chunk = self.api.emit(self._base, idx, state, texts, tools, finish)
        if chunk is not None and finish is not None:
            self._with_aigc(chunk)
        return chunk

    def _with_aigc(self, chunk: JSONObject) -> JSONObject:
        aigc = self.labeler.implicit(self.info.request_id)
        if aigc is not None:
            chunk["aigc"] = aigc
        return chunk

    def _note(self, decision: Decision) -> None:
        self._last = decision
        if self._worst is None or decision.action.severity > self._worst.action.severity:
            self._worst = decision

    async def _record_if_done(self) -> None:
        if all(c.finish for c in self._choices.values()):
            await self._record(incident=False)

    async def _record(self, *, incident: bool) -> None:
        decision = self._worst or self._last
        if self._recorded:
            return
        if decision is None:  # a stream without text: an empty check stands for it
            decision = await self.pipeline.check([], Direction.OUTPUT, self.ctx)
        self._recorded = True
        self.pipeline.count(decision)
        texts = [m.text for m in self._mods.values()]
        if self.shadow is not None:
            self.shadow.observe(Direction.OUTPUT, texts, decision, self.ctx)
        ending = Ending.BLOCKED if decision.blocked else Ending.COMPLETE
        output = self.recorder.record(decision, self.info, texts, incident=incident, ending=ending)
        if self.pending is not None:
            await asyncio.gather(self.pending, output)
        else:
            await output

    async def _stop(self, decision: Decision) -> list[bytes]:
        """Stop generation and transmission (Interim Measures Art. 14)."""
        self.upstream.close()
        self._worst = decision
        await self._record(incident=True)
        out = []
        language = self.ctx.language
        for idx in sorted(self._choices) or [0]:
            # The text already released and the refusal are AI output: label the end of it.
            state = self._choices.get(idx)
            started = state is not None and state.started
            prefix = "" if started else self.labeler.stream_prefix(language)
            refusal = prefix + decision.refusal + self.labeler.stream_suffix(language)
            chunk = self.api.stop_chunk(self._base, idx, refusal)
            chunk["moderation"] = decision.summary()
            out.append(sse.encode(self._with_aigc(chunk)))
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
