"""What every moderated stream shares, whatever its wire format: one ``StreamModerator`` per
text field, the checks that release text, the classifier gate, and the output record.

A relay for one API (``relay.ChoiceRelay`` for chat and text completions,
``responses_relay.ResponsesRelay`` for the Responses API) parses the upstream's events into
text fields (``feed``), asks ``judge`` which text may leave, and writes its own events. The
loop in ``events`` is shared: whatever ends the stream (completion, a block, the client
leaving, an upstream failure or error event, the decision log), the output record is written
once and names the ending.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from gateway.audit.recording import Ending
from gateway.decision import Action, Decision, Direction
from gateway.errors import GatewayError
from gateway.http import sse
from gateway.http.apis.base import FieldKey, JSONObject, Slot, unescaped
from gateway.http.moderation_field import moderation_field
from gateway.http.sse import SSEError
from gateway.http.stream_deps import StreamDeps
from gateway.http.upstream import iter_lines
from gateway.moderation.stream_gate import ClassifierGate
from gateway.moderation.stream_moderator import StreamModerator

_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def upstream_error_event(error: Any) -> JSONObject:
    """The gateway's own words for an error the upstream reported in-band: its message
    is not forwarded (it may hold text nobody checked); its code is, if it looks like one."""
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


def stream_failed(e: BaseException) -> JSONObject:
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
        fut.exception()


@dataclass(slots=True)
class Judged:
    """What a check let out: text per field, or a decision that stops the stream."""

    released: dict[FieldKey, str] = field(default_factory=dict)
    stop: Decision | None = None
    retract: bool = False  # the stop is a classifier verdict on text already sent


class StreamCheck:
    """The shared core; a subclass implements ``on_event``, ``finish`` and ``stop``."""

    def __init__(self, deps: StreamDeps) -> None:
        self.d = deps
        active = deps.pipeline.policy_for(deps.ctx.tenant)
        self.spec = active.policy.stream
        self._holdback = active.holdback_chars
        self._normalize = active.normalize
        self._prefix = active.matcher.pending_prefix_len if self.spec.holdback == "prefix" else None
        self.mods: dict[FieldKey, StreamModerator] = {}
        self.due: set[FieldKey] = set()
        self.whole: set[FieldKey] = set()  # fields checked only once complete
        self.worst: Decision | None = None
        self.last: Decision | None = None
        self.recorded = False
        self._ending = Ending.COMPLETE  # how the stream ended, for its record
        self.gate = (
            ClassifierGate(
                self._classify,
                retract=self.spec.classifier_gate == "retract",
                min_chars=self.spec.classifier_min_chars,
                min_chars_latin=self.spec.classifier_min_chars_latin,
            )
            if deps.pipeline.classifier is not None
            else None
        )

    # ------------------------------------------------------------ subclass hooks
    async def on_event(self, event: JSONObject) -> tuple[list[bytes], bool]:
        raise NotImplementedError

    async def finish(self) -> tuple[list[bytes], bool]:
        """The upstream ended: release what is held; True when the stream was stopped."""
        raise NotImplementedError

    def error_of(self, event: JSONObject) -> Any | None:
        """The error an event reports, or None."""
        return event.get("error") if "error" in event else None

    def encode(self, event: JSONObject) -> bytes:
        return sse.encode(event)

    done_marker = sse.DONE

    # ------------------------------------------------------------ the loop
    async def events(self) -> AsyncIterator[bytes]:
        """The bytes to send to the client. Closing this iterator closes the upstream."""
        self._ending = Ending.COMPLETE
        try:
            async for item in self._relay():
                yield item
        except (aiohttp.ClientError, SSEError) as e:
            # The upstream broke mid-stream: tell the client in-band; nothing unchecked leaks.
            self._ending = Ending.UPSTREAM_FAILED
            await self.settle(self._ending)
            yield self.encode(stream_failed(e))
        except GatewayError as e:  # e.g. the decision log is down in fail-closed mode
            self._ending = Ending.LOG_UNAVAILABLE
            yield self.encode(e.body())
        except BaseException:
            self._ending = Ending.CLIENT_GONE  # cancelled: the client left mid-stream
            raise
        finally:
            self._close()

    async def _relay(self) -> AsyncIterator[bytes]:
        async for payload in sse.iter_events(iter_lines(self.d.upstream)):
            if payload.strip() == "[DONE]":
                break
            try:
                event = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue  # a malformed event is dropped, not forwarded unchecked
            if not isinstance(event, dict):
                continue
            error = self.error_of(event)
            if error is not None:
                self._ending = Ending.UPSTREAM_ERROR
                await self.settle(self._ending)
                yield self.encode(upstream_error_event(error))
                return
            out, stopped = await self.on_event(event)
            if out:
                await self.input_kept()
            for item in out:
                yield item
            if stopped:
                self._ending = Ending.BLOCKED
                return
        out, stopped = await self.finish()
        await self.input_kept()
        for item in out:
            yield item
        if stopped:
            self._ending = Ending.BLOCKED
        elif self.done_marker:
            yield self.done_marker

    def _close(self) -> None:
        self.d.upstream.close()
        if self.gate is not None:
            self.gate.cancel()
        if not self.recorded and self.d.spawn is not None:
            # No await here: a cancelled request's scope would cancel it at once.
            self.recorded = True
            self.d.spawn(self._record_late(self._ending))
        elif self.d.pending is not None and not self.d.pending.done():
            self.d.pending.add_done_callback(_consume)

    # ------------------------------------------------------------ text and checks
    def mod(self, key: FieldKey) -> StreamModerator:
        mod = self.mods.get(key)
        if mod is None:
            context = self.spec.classifier_window_chars if self.d.pipeline.classifier else 0
            mod = StreamModerator(
                holdback=self._holdback,
                every=self.spec.check_every_chars,
                punctuation=self.spec.check_on_punctuation,
                context=context,
                normalize_config=self._normalize,
                pending_prefix=self._prefix,
            )
            self.mods[key] = mod
        return mod

    def feed(self, key: FieldKey, text: str, *, whole: bool = False) -> None:
        """Add streamed text to a field. ``whole`` fields (tool-call arguments) are held
        until complete, then checked with their JSON ``\\uXXXX`` escapes decoded."""
        if whole:
            self.whole.add(key)
        if self.mod(key).feed(text) and key not in self.whole:
            self.due.add(key)

    def take_due(self) -> set[FieldKey]:
        due, self.due = self.due, set()
        return due

    def _classify(self, texts: Sequence[str]) -> Awaitable[Decision]:
        return self.d.pipeline.check(texts, Direction.OUTPUT, self.d.ctx, use_lexicon=False)

    async def judge(self, keys: set[FieldKey], final: set[FieldKey]) -> Judged:
        """Check the fields in ``keys`` (``final``: their text is complete) and release
        what passed; or the decision that stops the stream."""
        gate, enforce = self.gate, self.d.enforce
        if gate is not None and gate.retract and (late := gate.verdict()) is not None:
            if enforce:
                return Judged(stop=late, retract=True)
        keys = {k for k in keys if self.mods[k].has_unchecked or k in final}
        if not keys:
            return Judged()
        ordered = sorted(keys)
        windows = [self.mods[k].window() for k in ordered]
        texts = [w for w, _ in windows]
        texts += [s.text for s in unescaped([Slot(None, None, w) for w in texts])[len(texts) :]]
        ending = bool(final.intersection(ordered))
        answer = max((self.mods[k].text for k in ordered), key=len)
        ready = gate is not None and gate.ready(answer, ending)
        # Hold mode, or the stream's last check: the classifier judges before release.
        inline = ready and gate is not None and (not gate.retract or ending)
        decision = await self.d.pipeline.check(
            texts, Direction.OUTPUT, self.d.ctx, use_classifier=inline
        )
        self.note(decision)
        if decision.blocked and enforce:
            return Judged(stop=decision, retract=inline and gate is not None and gate.retract)
        if ending and gate is not None and (late := await gate.drain()) is not None and enforce:
            return Judged(stop=late, retract=True)
        if decision.action is Action.REDACT and decision.redacted is not None:
            redacted = decision.redacted[: len(ordered)]
            for k, (_, start), new in zip(ordered, windows, redacted, strict=True):
                self.mods[k].replace_unreleased(start, new)
        # In hold mode nothing leaves before the classifier could judge it.
        held = gate is not None and not gate.retract and not ready
        judged = Judged()
        for k in ordered:
            mod = self.mods[k]
            text = "" if held else mod.passed(final=k in final)
            self.d.metrics.stream_holdback_chars.observe(mod.held)
            if text:
                judged.released[k] = text
        if ready and not inline and gate is not None:
            # Retract mode: judged right after release, off the release path.
            if (late := await gate.submit(texts)) is not None and enforce:
                return Judged(stop=late, retract=True)
        return judged

    async def drain_gate(self) -> Decision | None:
        """The stream ended: a blocking verdict still in flight stops it."""
        if self.gate is None:
            return None
        late = await self.gate.drain()
        return late if late is not None and self.d.enforce else None

    def note(self, decision: Decision) -> None:
        self.last = decision
        if self.worst is None or decision.action.severity > self.worst.action.severity:
            self.worst = decision

    def final_decision(self) -> Decision | None:
        if self.gate is not None:
            for verdict in self.gate.decisions:
                self.note(verdict)
        return self.worst or self.last

    def moderation(self, decision: Decision | None, *, always: bool = False) -> JSONObject | None:
        """The moderation field for a closing event, when asked for or when it acted."""
        acted = any(d is not None and d.action is not Action.ALLOW
                    for d in (self.d.input_decision, decision))  # fmt: skip
        if not (always or self.d.report or acted):
            return None
        return moderation_field(
            self.d.input_decision, decision, self.d.model_name, single=self.d.single_moderation
        )

    def retraction(self, fields: dict[str, int], label_field: str) -> JSONObject:
        """What the client must withdraw: characters already sent, per field."""
        return {
            "retract": True,
            "retract_chars": fields.get(label_field, 0),
            "retract_fields": {f: n for f, n in fields.items() if n},
        }

    def aigc(self) -> JSONObject | None:
        return self.d.labeler.implicit(self.d.info.request_id)

    # ------------------------------------------------------------ records
    async def input_kept(self) -> None:
        """Nothing reaches the client before the input record is durable (fail closed)."""
        pending = self.d.pending
        if pending is not None and not pending.done():
            await pending

    async def record(self, *, incident: bool) -> None:
        decision = self.final_decision()
        if self.recorded:
            return
        if decision is None:  # a stream without text: an empty check stands for it
            decision = await self.d.pipeline.check([], Direction.OUTPUT, self.d.ctx)
        self.recorded = True
        self.d.pipeline.count(decision)
        texts = [m.text for m in self.mods.values()]
        if self.d.shadow is not None:
            self.d.shadow.observe(Direction.OUTPUT, texts, decision, self.d.ctx)
        ending = Ending.BLOCKED if decision.blocked and self.d.enforce else Ending.COMPLETE
        output = self.d.recorder.record(
            decision, self.d.info, texts, incident=incident, ending=ending
        )
        if self.d.pending is not None:
            await asyncio.gather(self.d.pending, output)
        else:
            await output

    async def settle(self, ending: Ending) -> None:
        """Record the stream now, with what it produced so far, before telling the client."""
        if not self.recorded:
            self.recorded = True
            await self._record_late(ending)

    async def _record_late(self, ending: Ending) -> None:
        """The output record of a stream that did not finish: the text it produced so far
        is judged once more, whole, so the record says what the upstream really sent."""
        if self.d.pending is not None:
            try:
                await self.d.pending
            except GatewayError:
                pass  # the input record's failure was already the request's answer
        texts = [m.text for m in self.mods.values() if m.text]
        decision = await self.d.pipeline.check(texts, Direction.OUTPUT, self.d.ctx)
        worst = self.worst
        if worst is not None and worst.action.severity > decision.action.severity:
            decision = worst
        self.d.pipeline.count(decision)
        await self.d.recorder.record(decision, self.d.info, texts, ending=ending)

    async def stopped(self, decision: Decision) -> None:
        """Stop generation (Interim Measures Art. 14) and record the incident."""
        self.d.upstream.close()
        if self.gate is not None:
            self.gate.cancel()
        self.worst = decision
        await self.record(incident=True)
