"""The moderated completion routes: check input, call the upstream, check output.

One exchange serves every API shape (``gateway.http.apis``): the shape says where texts
live and how answers look; this module says in what order things happen. Blocked input
never reaches the upstream; a blocked answer is replaced; streams go through
``StreamRelay``, which releases only text that has passed a check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.audit.recording import Ending, RequestInfo
from gateway.decision import Action, Decision, Direction
from gateway.errors import (
    ContentPolicyViolation,
    DecisionLogUnavailable,
    TooMuchText,
    UpstreamBadResponse,
    UpstreamError,
    error_response,
)
from gateway.http.apis.base import ApiShape, JSONObject, Slot
from gateway.http.auth import authenticate
from gateway.http.body import read_json_object, request_headers
from gateway.http.middleware import decision_id_of
from gateway.http.moderation_field import (
    ModerationRequest,
    model_name,
    moderation_field,
    parse_request,
)
from gateway.http.responses import JSONResponse
from gateway.http.state import AppState
from gateway.http.stream_deps import StreamDeps
from gateway.http.upstream import rate_limit_headers, upstream_error
from gateway.moderation.labels import Labeler
from gateway.moderation.language import detect_language
from gateway.moderation.pipeline import CheckContext
from gateway.policy.compiled import ActivePolicy
from gateway.policy.engine import UserStatus

USER_STATUS_HEADER = "X-Gateway-User-Status"
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(slots=True)
class _Request:
    """One parsed request on its way through the exchange."""

    api: ApiShape
    active: ActivePolicy
    body: JSONObject
    slots: list[Slot]
    texts: list[str]
    info: RequestInfo
    language: str
    incoming: dict[str, str]
    mod: ModerationRequest  # the client's moderation field
    headers: dict[str, str] = field(default_factory=dict)  # for the client
    status: UserStatus = "ok"
    input_decision: Decision | None = None

    @property
    def model_name(self) -> str:
        return model_name(self.active.version)

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def n(self) -> int:
        n = self.body.get("n")
        return n if isinstance(n, int) else 1


def endpoint(api: ApiShape) -> Callable[[Request], Awaitable[Response]]:
    """The route handler for one API shape."""

    async def handle(request: Request) -> Response:
        state: AppState = request.app.state.gateway
        return await _handle(state, request, api)

    return handle


async def _handle(s: AppState, request: Request, api: ApiShape) -> Response:
    req = await _read(s, request, api)
    if s.log_refuses:  # fail closed: the upstream is not called, nothing is released
        raise DecisionLogUnavailable(
            "The decision log is unavailable, so the request cannot be completed."
        )
    decision = req.input_decision = await _check_input(s, req)
    if decision.blocked and req.mod.enforce_input:
        await s.recorder.record(decision, req.info, req.texts)
        return _refuse(req, decision)
    if decision.action is Action.REDACT and decision.redacted is not None:
        _write_back(req.slots, decision.redacted)
    # Both records are durable before the response completes. While the log is down, the
    # input record must be kept (or spooled) before the upstream hears of the request.
    pending = _InputRecord(
        lambda: s.recorder.record(decision, req.info, req.texts), start=req.stream or s.log_down
    )
    if s.log_down:
        await pending.kept()
    try:
        if req.stream:
            return await _stream(s, req, pending)
        return await _whole(s, req, pending)
    except UpstreamError:
        await pending.kept(_record_output(s, req, Ending.UPSTREAM_FAILED))
        raise
    except BaseException:
        await pending.kept()  # a log failure outranks the error being handled
        raise


class _InputRecord:
    """The input decision's record. A stream starts it at once, since nothing may be
    released before it is durable; a whole answer commits it with the output record, two
    records in one group commit (one fsync) instead of two."""

    def __init__(self, write: Callable[[], Awaitable[None]], *, start: bool) -> None:
        self._write = write
        self.task: asyncio.Future[None] | None = asyncio.ensure_future(write()) if start else None

    async def kept(self, *others: Awaitable[None]) -> None:
        """Return once the input record (and ``others``) are durable."""
        if self.task is None:
            self.task = asyncio.ensure_future(self._write())
        await asyncio.gather(self.task, *others)


async def _record_output(
    s: AppState,
    req: _Request,
    ending: Ending,
    decision: Decision | None = None,
    texts: list[str] | None = None,
) -> None:
    """The output record of an exchange; without a decision, an empty check stands in (the
    upstream produced nothing the client saw)."""
    if decision is None:
        decision = await s.pipeline.check([], Direction.OUTPUT, _out_context(req))
    await s.recorder.record(decision, req.info, texts or [], ending=ending)


def _out_context(req: _Request) -> CheckContext:
    return CheckContext(f"{req.info.request_id}-out", req.language, tenant=req.info.tenant)


async def _read(s: AppState, request: Request, api: ApiShape) -> _Request:
    """Authenticate, parse and validate; find every text the model will read."""
    started = time.perf_counter()
    policies = s.pipeline.policies
    tenant = authenticate(request, policies)
    body = await read_json_object(request, s.settings.max_body_bytes)
    api.validate(body)
    active = policies.for_tenant(tenant)
    mod = parse_request(body, active.policy)  # removed from what goes upstream
    slots = api.input_slots(body)
    texts = [slot.text for slot in slots]
    limit = active.policy.limits.max_request_chars
    size = sum(len(t) for t in texts)
    if size > limit:
        raise TooMuchText(
            f"The request holds {size} characters of text; this gateway checks at most "
            f"{limit} per request."
        )
    incoming = request_headers(request)
    user = body.get("user") or incoming.get(s.settings.user_header)
    info = RequestInfo(
        route=api.route,
        request_id=decision_id_of(request.scope),
        tenant=tenant,
        user=user,
        model=str(body.get("model") or ""),
        started=started,
    )
    language = detect_language(texts, active.policy.language)
    return _Request(api, active, body, slots, texts, info, language, incoming, mod)


async def _check_input(s: AppState, req: _Request) -> Decision:
    """The input decision, with the user's sanction state before and after it."""
    info, spec = req.info, req.active.policy.sanctions
    if s.sanctions is not None:
        req.status = await s.sanctions.status(info.tenant, info.user, spec)
    ctx = CheckContext(info.request_id, req.language, req.status, info.tenant)
    decision = await s.pipeline.check(req.texts, Direction.INPUT, ctx)
    s.pipeline.count(decision)
    s.shadow.observe(Direction.INPUT, req.texts, decision, ctx)  # a draft's shadow run
    if s.sanctions is not None and req.status != "suspended":
        applied = await s.sanctions.observe(info.tenant, info.user, spec, decision.blocked)
        req.status = applied or req.status
    if req.status != "ok":
        req.headers[USER_STATUS_HEADER] = req.status
    return decision


def _refuse(req: _Request, decision: Decision) -> Response:
    """A blocked request: the policy's refusal, as an answer (streamed or not) or a 400."""
    if req.active.policy.block_response == "error":
        return error_response(ContentPolicyViolation(decision.refusal), req.headers)
    refusal = req.api.refusal(req.info.model, decision, req.n)
    refusal["moderation"] = moderation_field(
        decision, None, req.model_name, single=req.api.single_moderation
    )
    # A refusal is an answer the user reads: it carries the AI-content labels too.
    labeler = Labeler(req.active.policy.labels)
    req.api.label_answer(refusal, labeler, req.language)
    aigc = labeler.implicit(req.info.request_id)
    if aigc is not None:
        refusal["aigc"] = aigc
    if not req.stream:
        return JSONResponse(refusal, headers=req.headers)
    events = [req.api.encode_event(chunk) for chunk in req.api.refusal_chunks(refusal)]
    if req.api.done_marker:
        events.append(req.api.done_marker)
    return StreamingResponse(_replay(events), media_type="text/event-stream",
                             headers={**req.headers, **_SSE_HEADERS})  # fmt: skip


async def _whole(s: AppState, req: _Request, pending: _InputRecord) -> Response:
    body = orjson.dumps(req.body)
    headers = s.upstream.headers(req.incoming, client_auth=not s.pipeline.policies.requires_key)
    reply = await s.upstream.request("POST", req.api.upstream_path, body, headers)
    if reply.status != 200:
        return await _upstream_failed(s, req, pending, reply.status, reply.body, reply.headers)
    req.headers.update(rate_limit_headers(reply.headers))
    answer = await _moderate_answer(s, req, pending, _parse_answer(reply.body))
    return JSONResponse(answer, headers=req.headers)


async def _moderate_answer(
    s: AppState, req: _Request, pending: _InputRecord, answer: JSONObject
) -> JSONObject:
    """Check a whole answer; replace, redact and label it; keep both records."""
    api, info = req.api, req.info
    slots = api.output_slots(answer)
    texts = [slot.text for slot in slots]
    decision = await s.pipeline.check(texts, Direction.OUTPUT, _out_context(req))
    s.pipeline.count(decision)
    s.shadow.observe(Direction.OUTPUT, texts, decision, _out_context(req))
    labeler = Labeler(req.active.policy.labels)
    enforced = decision.blocked and req.mod.enforce_output
    if enforced:
        api.replace_answer(answer, decision)
    elif decision.action is Action.REDACT and decision.redacted is not None:
        _write_back(slots, decision.redacted)
    api.label_answer(answer, labeler, req.language)
    if req.mod.requested or _acted(req.input_decision, decision):
        answer["moderation"] = moderation_field(
            req.input_decision, decision, req.model_name, single=req.api.single_moderation
        )
    aigc = labeler.implicit(info.request_id)
    if aigc is not None:
        answer["aigc"] = aigc
    ending = Ending.BLOCKED if enforced else Ending.COMPLETE
    await pending.kept(s.recorder.record(decision, info, texts, ending=ending))
    return answer


async def _upstream_failed(
    s: AppState,
    req: _Request,
    pending: _InputRecord,
    status: int,
    payload: bytes,
    upstream_headers: Mapping[str, str],
) -> Response:
    s.upstream.count_status(status)
    await pending.kept(_record_output(s, req, Ending.UPSTREAM_ERROR))
    return upstream_error(status, payload, upstream_headers, req.headers)


async def _stream(s: AppState, req: _Request, pending: _InputRecord) -> Response:
    body = orjson.dumps(req.body)
    headers = s.upstream.headers(req.incoming, client_auth=not s.pipeline.policies.requires_key)
    resp = await s.upstream.open_stream(req.api.upstream_path, body, headers)
    if resp.status != 200 or resp.content_type == "application/json":
        try:
            payload = await resp.read()
        except Exception as e:
            raise s.upstream.translate(e) from e
        finally:
            resp.close()
        if resp.status != 200:
            return await _upstream_failed(s, req, pending, resp.status, payload, resp.headers)
        # An upstream that ignored "stream": the whole answer is checked, then sent as a
        # stream so the client still gets the shape it asked for.
        answer = await _moderate_answer(s, req, pending, _parse_answer(payload))
        events = [req.api.encode_event(c) for c in _stream_of(req.api, answer)]
        if req.api.done_marker:
            events.append(req.api.done_marker)
        return StreamingResponse(_replay(events), media_type="text/event-stream",
                                 headers={**req.headers, **_SSE_HEADERS})  # fmt: skip
    req.headers.update(rate_limit_headers(resp.headers))
    deps = StreamDeps(
        pipeline=s.pipeline,
        ctx=_out_context(req),
        info=req.info,
        recorder=s.recorder,
        metrics=s.metrics,
        labeler=Labeler(req.active.policy.labels),
        upstream=resp,
        pending=pending.task,
        spawn=s.spawn,
        input_decision=req.input_decision,
        report=req.mod.requested,
        enforce=req.mod.enforce_output,
        model_name=req.model_name,
        single_moderation=req.api.single_moderation,
        shadow=s.shadow,
    )
    relay = req.api.open_relay(deps)
    return StreamingResponse(relay.events(), media_type="text/event-stream",
                             headers={**req.headers, **_SSE_HEADERS})  # fmt: skip


def _acted(*decisions: Decision | None) -> bool:
    return any(d is not None and d.action is not Action.ALLOW for d in decisions)


def _stream_of(api: ApiShape, answer: JSONObject) -> list[JSONObject]:
    chunks = api.whole_to_chunks(answer)
    for extra in ("moderation", "aigc"):
        if extra in answer and chunks:
            chunks[-1][extra] = answer[extra]
    return chunks


def _parse_answer(payload: bytes) -> JSONObject:
    try:
        answer = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise UpstreamBadResponse("The upstream returned a body that is not JSON.") from None
    if not isinstance(answer, dict):
        raise UpstreamBadResponse("The upstream returned JSON that is not an object.")
    return answer


def _write_back(slots: list[Slot], texts: tuple[str, ...]) -> None:
    for slot, text in zip(slots, texts, strict=True):
        if text != slot.text:
            slot.set(text)


async def _replay(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event
