"""The moderated completion routes: check input, call the upstream, check output.

One handler serves chat and text completions (``Flavor`` says where their texts live).
Blocked input never reaches the upstream; blocked output is replaced; streams go through
``StreamRelay``, which releases only text that has passed a check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway import sse
from gateway.body import parse_json_object, read_body
from gateway.decision import Action, Decision, Direction
from gateway.errors import (
    ContentPolicyViolation,
    GatewayError,
    TooMuchText,
    Unauthorized,
    UpstreamBadResponse,
    error_response,
)
from gateway.extract import Slot, detect_language
from gateway.flavors import Flavor
from gateway.labels import Labeler
from gateway.pipeline import CheckContext, new_decision_id
from gateway.policy.compiled import DEFAULT_TENANT, PolicySet
from gateway.policy.engine import UserStatus
from gateway.recording import RequestInfo
from gateway.responses import CONTENT_FILTER, JSONResponse
from gateway.state import AppState
from gateway.stream_relay import StreamRelay

DECISION_HEADER = "X-Gateway-Decision-Id"


@dataclass(slots=True)
class _Exchange:
    """One allowed request on its way to the upstream and back."""

    flavor: Flavor
    body: bytes  # what goes upstream (redacted when the input decision said so)
    upstream_headers: dict[str, str]
    headers: dict[str, str]  # for the client: decision id, user status
    ctx: CheckContext  # for the output checks
    info: RequestInfo
    labeler: Labeler
    pending: asyncio.Future[None]  # the input decision's record, committing


class Proxy:
    def __init__(self, state: AppState) -> None:
        self.s = state
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}  # metric label children

    async def handle(self, request: Request, flavor: Flavor) -> Response:
        started = time.perf_counter()
        decision_id = new_decision_id()
        headers = {DECISION_HEADER: decision_id}
        try:
            response = await self._handle(request, flavor, decision_id, headers, started)
        except GatewayError as e:
            response = error_response(e, headers)
        if not isinstance(response, StreamingResponse):
            self._observe(flavor.route, response.status_code, started)
        return response

    def _observe(self, route: str, status: int, started: float) -> None:
        key = (route, status)
        children = self._children.get(key)
        if children is None:
            m = self.s.metrics
            children = (
                m.requests.labels(route=route, status=str(status)),
                m.request_duration.labels(route=route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(time.perf_counter() - started)

    async def _handle(
        self,
        request: Request,
        flavor: Flavor,
        decision_id: str,
        headers: dict[str, str],
        started: float,
    ) -> Response:
        s = self.s
        policies = s.pipeline.policies
        tenant = authenticate(request, policies)
        raw = await read_body(request, s.settings.max_body_bytes)
        body = parse_json_object(raw)
        flavor.validate(body)
        active = policies.for_tenant(tenant)
        policy = active.policy
        slots = flavor.input_slots(body)
        texts = [slot.text for slot in slots]
        size = sum(len(t) for t in texts)
        if size > policy.limits.max_request_chars:
            raise TooMuchText(
                f"The request holds {size} characters of text; this gateway checks at most "
                f"{policy.limits.max_request_chars} per request."
            )
        language = detect_language(texts, policy.language)
        incoming = request_headers(request)
        user = body.get("user") or incoming.get(s.settings.user_header)
        info = RequestInfo(
            route=flavor.route,
            request_id=decision_id,
            tenant=tenant,
            user=user,
            model=str(body.get("model") or ""),
            started=started,
        )
        status: UserStatus = "ok"
        if s.sanctions is not None:
            status = await s.sanctions.status(tenant, user, policy.sanctions)
        ctx = CheckContext(decision_id, language, status, tenant)
        decision = await s.pipeline.check(texts, Direction.INPUT, ctx)
        s.pipeline.count(decision)
        if s.sanctions is not None and status != "suspended":
            applied = await s.sanctions.observe(tenant, user, policy.sanctions, decision.blocked)
            status = applied or status
        if status != "ok":
            headers["X-Gateway-User-Status"] = status
        stream = bool(body.get("stream"))
        n_value = body.get("n")
        n = n_value if isinstance(n_value, int) else 1

        if decision.blocked:
            await s.recorder.record(decision, info, texts)
            if policy.block_response == "error":
                err = ContentPolicyViolation(decision.refusal)
                return error_response(err, headers)
            refusal = flavor.refusal(info.model, decision, n)
            if stream:
                return self._refusal_stream(flavor, refusal, headers, started)
            return JSONResponse(refusal, headers=headers)

        if decision.action is Action.REDACT and decision.redacted is not None:
            _write_back(slots, decision.redacted)
            raw = orjson.dumps(body)

        up_headers = s.upstream.headers(incoming, client_auth=not policies.requires_key)
        ctx_out = CheckContext(f"{decision_id}-out", language, tenant=tenant)
        labeler = Labeler(policy.labels)
        # The input record commits while the upstream works; both records are durable
        # before the response completes (one commit wait instead of two in a row).
        pending = asyncio.ensure_future(s.recorder.record(decision, info, texts))
        ex = _Exchange(flavor, raw, up_headers, headers, ctx_out, info, labeler, pending)
        try:
            return await (self._stream(ex) if stream else self._whole(ex))
        except BaseException:
            await pending  # a log failure outranks the error being handled
            raise

    async def _whole(self, ex: _Exchange) -> Response:
        s = self.s
        flavor, headers, ctx, info, labeler = ex.flavor, ex.headers, ex.ctx, ex.info, ex.labeler
        pending = ex.pending
        reply = await s.upstream.request("POST", flavor.path, ex.body, ex.upstream_headers)
        if reply.status != 200:
            s.upstream.count_status(reply.status)
            await pending
            return _upstream_error(reply.status, reply.body, headers)
        try:
            answer = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponse("The upstream returned a body that is not JSON.") from None
        if not isinstance(answer, dict):
            raise UpstreamBadResponse("The upstream returned JSON that is not an object.")
        slots = flavor.output_slots(answer)
        texts = [slot.text for slot in slots]
        decision = await s.pipeline.check(texts, Direction.OUTPUT, ctx)
        s.pipeline.count(decision)
        if decision.blocked:
            _replace_answer(answer, flavor, decision)
        else:
            if decision.action is Action.REDACT and decision.redacted is not None:
                _write_back(slots, decision.redacted)
            _label_answer(answer, flavor, labeler, ctx.language)
            if decision.action is not Action.ALLOW:
                answer["moderation"] = decision.summary()
        aigc = labeler.implicit(info.request_id)
        if aigc is not None and not decision.blocked:
            answer["aigc"] = aigc
        await asyncio.gather(pending, s.recorder.record(decision, info, texts, incident=False))
        return JSONResponse(answer, headers=headers)

    async def _stream(self, ex: _Exchange) -> Response:
        s = self.s
        flavor, headers, info, pending = ex.flavor, ex.headers, ex.info, ex.pending
        resp = await s.upstream.open_stream(flavor.path, ex.body, ex.upstream_headers)
        if resp.status != 200:
            try:
                payload = await resp.read()
            except Exception as e:
                raise s.upstream.translate(e) from e
            finally:
                resp.close()
            s.upstream.count_status(resp.status)
            await pending
            return _upstream_error(resp.status, payload, headers)
        relay = StreamRelay(
            flavor=flavor,
            pipeline=s.pipeline,
            ctx=ex.ctx,
            info=info,
            recorder=s.recorder,
            metrics=s.metrics,
            labeler=ex.labeler,
            upstream=resp,
            pending=pending,
        )
        return StreamingResponse(
            self._timed(relay.events(), flavor.route, info.started),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _timed(
        self, events: AsyncIterator[bytes], route: str, started: float
    ) -> AsyncIterator[bytes]:
        try:
            async for item in events:
                yield item
        finally:
            self._observe(route, 200, started)

    def _refusal_stream(
        self, flavor: Flavor, refusal: dict[str, Any], headers: dict[str, str], started: float
    ) -> Response:
        """A blocked streaming request still gets a well-formed stream."""
        chunks: list[bytes] = []
        for choice in refusal["choices"]:
            if flavor.chat:
                delta = {"role": "assistant", "content": choice["message"]["content"]}
                chunk_choice = {"index": choice["index"], "delta": delta,
                                "finish_reason": CONTENT_FILTER}  # fmt: skip
                obj = "chat.completion.chunk"
            else:
                chunk_choice = dict(choice)
                obj = "text_completion"
            chunks.append(sse.encode({
                "id": refusal["id"], "object": obj, "created": refusal["created"],
                "model": refusal["model"], "choices": [chunk_choice],
                "moderation": refusal["moderation"],
            }))  # fmt: skip
        chunks.append(sse.DONE)

        async def gen() -> AsyncIterator[bytes]:
            for c in chunks:
                yield c

        return StreamingResponse(
            self._timed(gen(), flavor.route, started),
            media_type="text/event-stream",
            headers=headers,
        )


def request_headers(request: Request) -> dict[str, str]:
    """The request's headers as a plain dict, lower-case names, built in one pass (Starlette's
    ``Headers.get`` scans the whole list on every call). A repeated header keeps its last value."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}


def authenticate(request: Request, policies: PolicySet) -> str:
    """The tenant a request belongs to. With tenants configured, an unknown or missing
    gateway API key is refused before the body is read."""
    if not policies.requires_key:
        return DEFAULT_TENANT
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    tenant = policies.tenant_for_key(token.strip()) if scheme.lower() == "bearer" else None
    if tenant is None:
        raise Unauthorized("Incorrect or missing API key for this gateway.")
    return tenant


def _write_back(slots: list[Slot], texts: tuple[str, ...]) -> None:
    for slot, text in zip(slots, texts, strict=True):
        if text != slot.text:
            slot.set(text)


def _replace_answer(answer: dict[str, Any], flavor: Flavor, decision: Decision) -> None:
    for choice in answer.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if flavor.chat:
            choice["message"] = {"role": "assistant", "content": decision.refusal}
        else:
            choice["text"] = decision.refusal
        choice["finish_reason"] = CONTENT_FILTER
    answer["moderation"] = decision.summary()


def _label_answer(answer: dict[str, Any], flavor: Flavor, labeler: Labeler, lang: str) -> None:
    if not labeler.spec.explicit.enabled:
        return
    for choice in answer.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if flavor.chat:
            message = choice.get("message")
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                message["content"] = labeler.apply(message["content"], lang)
        elif isinstance(choice.get("text"), str):
            choice["text"] = labeler.apply(choice["text"], lang)


def _upstream_error(status: int, payload: bytes, headers: dict[str, str]) -> Response:
    """Pass the upstream's own OpenAI-style error through; wrap anything else."""
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        return Response(payload, status, headers=headers, media_type="application/json")
    err = UpstreamBadResponse(f"The upstream answered HTTP {status} without an error body.")
    return error_response(err, headers)
