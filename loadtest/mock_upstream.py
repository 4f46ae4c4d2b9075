"""A mock OpenAI-compatible LLM server for tests and benchmarks.

It answers ``/v1/chat/completions`` and ``/v1/completions`` (streamed and not),
``/v1/models`` and ``/v1/embeddings``. What it answers can be set per request through
extra body fields (the OpenAI SDK's ``extra_body``):

- ``mock_reply``: the answer text (default: a fixed sentence);
- ``mock_chunks``: the exact stream deltas, e.g. ``["炸", "弹"]``;
- ``mock_reasoning``: reasoning_content deltas streamed before the answer;
- ``mock_tool_call``: ``{"name": ..., "arguments_chunks": [...]}``;
- ``mock_status`` / ``mock_error``: answer with that HTTP status and error body;
- ``mock_delay_ms``: delay between streamed chunks (default ``--token-delay-ms``);
- ``mock_raw``: a non-JSON body sent with ``mock_status`` (for broken upstreams);
- ``mock_headers``: extra response headers sent with ``mock_status`` (rate limits);
- ``mock_redirect``: answer 307 with this ``Location``;
- ``mock_events``: the exact stream events: objects are sent as JSON, strings verbatim;
- ``mock_json_stream``: answer a streaming request with a whole JSON completion;
- ``mock_break_after``: cut the connection after this many streamed chunks.
- ``mock_refusal``: answer with OpenAI's structured refusal (``message.refusal``, no content).

A *script* (``--script FILE``, or ``MockUpstream(script=...)``) scripts answers by question
instead, for runs that cannot add fields to each request (``gateway assess run``): a JSONL
file whose lines are ``{"prompt": "<the last user message>", "reply": "...",
"chunks": [...], "status": 503, "error": "...", "refusal": "...", "delay_ms": 50,
"fail_first": 2}``. A request whose last user message equals a prompt gets those fields as
if it had sent ``mock_reply``, ``mock_chunks``, ... itself (fields it did send win);
``fail_first`` answers the first N requests for that prompt with HTTP 503.

``GET /_mock/stats`` reports request counts and how many streams the client closed early,
which is how tests see that the gateway stopped generation. Raw ASGI, so it is not the
bottleneck in benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson

DEFAULT_REPLY = "This is a mock answer from the upstream model. 这是上游模型的模拟回答。"

Scope = dict[str, Any]


_SCRIPT_FIELDS = {"reply": "mock_reply", "chunks": "mock_chunks", "status": "mock_status",
                  "error": "mock_error", "refusal": "mock_refusal", "delay_ms": "mock_delay_ms"}  # fmt: skip


def load_script(path: str) -> dict[str, dict[str, Any]]:
    """A script file (JSONL) as {prompt: fields}; a bad line names its number."""
    script: dict[str, dict[str, Any]] = {}
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            entry = orjson.loads(raw)
            if not isinstance(entry, dict) or not isinstance(entry.get("prompt"), str):
                raise ValueError(f"{path}:{n}: each line needs a string 'prompt'")
            unknown = set(entry) - {"prompt", "fail_first", *_SCRIPT_FIELDS}
            if unknown:
                raise ValueError(f"{path}:{n}: unknown fields {sorted(unknown)}")
            script[entry["prompt"]] = entry
    return script


class MockUpstream:
    def __init__(
        self, token_delay_ms: float = 0.0, chunk_chars: int = 4,
        script: dict[str, dict[str, Any]] | None = None,
    ) -> None:  # fmt: skip
        self.token_delay = token_delay_ms / 1000
        self.chunk_chars = chunk_chars
        self.script = script or {}
        self.script_seen: dict[str, int] = {}  # prompt -> requests so far
        self.stats: dict[str, int] = {
            "requests": 0, "streams_started": 0, "streams_completed": 0,
            "streams_cancelled": 0,
        }  # fmt: skip
        self.last_body: dict[str, Any] | None = None
        self.last_headers: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        if path == "/_mock/stats":
            payload = {**self.stats, "last_body": self.last_body, "last_headers": self.last_headers}
            await _json(send, 200, payload)
            return
        self.stats["requests"] += 1
        self.last_headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if path == "/v1/models":
            await _json(
                send,
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": "mock-model", "object": "model", "created": 0, "owned_by": "mock"}
                    ],
                },
            )
            return
        if scope["method"] != "POST":
            await _json(send, 405, _error("method not allowed", "invalid_request_error"))
            return
        try:
            req = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            await _json(send, 400, _error("invalid JSON", "invalid_request_error"))
            return
        self.last_body = req
        if self.script and isinstance(req, dict):
            req = self._scripted(req)
        if path == "/v1/embeddings":
            await _json(send, 200, {"object": "list", "model": req.get("model", "mock"),
                                    "data": [{"object": "embedding", "index": 0,
                                              "embedding": [0.0, 0.1, 0.2]}]})  # fmt: skip
            return
        if path not in ("/v1/chat/completions", "/v1/completions", "/v1/responses"):
            await _json(send, 404, _error(f"unknown path {path}", "invalid_request_error"))
            return
        if "mock_redirect" in req:
            location = str(req["mock_redirect"]).encode()
            await _raw(send, 307, b"", b"text/plain", [(b"location", location)])
            return
        status = req.get("mock_status")
        if status:
            extra = [(k.encode(), str(v).encode()) for k, v in req.get("mock_headers", {}).items()]
            if "mock_raw" in req:
                await _raw(send, int(status), str(req["mock_raw"]).encode(), b"text/plain", extra)
            else:
                msg = req.get("mock_error", "mock upstream error")
                body = orjson.dumps(_error(msg, "server_error", "mock_error"))
                await _raw(send, int(status), body, b"application/json", extra)
            return
        if path == "/v1/responses":
            if req.get("stream") and "mock_events" in req:
                await self._events(req["mock_events"], send)
            elif req.get("stream"):
                await self._events(self._response_events(req), send)
            else:
                await _json(send, 200, self._response(req))
            return
        chat = path == "/v1/chat/completions"
        if req.get("stream") and req.get("mock_json_stream"):
            await _json(send, 200, self._whole(req, chat))
        elif req.get("stream") and "mock_events" in req:
            await self._events(req["mock_events"], send)
        elif req.get("stream"):
            await self._stream(req, chat, receive, send)
        else:
            if req.get("mock_delay_ms"):
                await asyncio.sleep(float(req["mock_delay_ms"]) / 1000)
            await _json(send, 200, self._whole(req, chat))

    async def _events(self, events: list[Any], send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})  # fmt: skip
        for ev in events:
            data = ev.encode() if isinstance(ev, str) else orjson.dumps(ev)
            await send({"type": "http.response.body", "body": b"data: " + data + b"\n\n",
                        "more_body": True})  # fmt: skip
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _response(self, req: dict[str, Any]) -> dict[str, Any]:
        """A Responses API answer: reasoning summary, message, function call as asked."""
        output: list[dict[str, Any]] = []
        if "mock_reasoning" in req:
            output.append({"type": "reasoning", "id": "rs_mock", "summary": [
                {"type": "summary_text", "text": "".join(req["mock_reasoning"])}]})  # fmt: skip
        output.append({"type": "message", "id": "msg_mock", "role": "assistant",
                       "status": "completed", "content": [
                           {"type": "output_text", "text": self._reply(req), "annotations": []}]})  # fmt: skip
        if "mock_tool_call" in req:
            tc = req["mock_tool_call"]
            output.append({"type": "function_call", "id": "fc_mock", "call_id": "call_mock",
                           "name": tc["name"], "arguments": "".join(tc["arguments_chunks"]),
                           "status": "completed"})  # fmt: skip
        return {"id": "resp_mock", "object": "response", "created_at": int(time.time()),
                "model": req.get("model", "mock-model"), "status": "completed",
                "incomplete_details": None, "error": None, "output": output,
                "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
                "usage": {"input_tokens": 5, "output_tokens": 5, "total_tokens": 10}}  # fmt: skip

    def _response_events(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        """The typed events of a streamed Responses API answer, deltas and all."""
        whole = self._response(req)
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": {**whole, "status": "in_progress", "output": []}}
        ]  # fmt: skip
        for oi, item in enumerate(whole["output"]):
            kind = item["type"]
            blank = (
                {**item, "content": []}
                if kind == "message"
                else {**item, "summary": []}
                if kind == "reasoning"
                else {**item, "arguments": ""}
            )
            events.append({"type": "response.output_item.added", "output_index": oi, "item": blank})
            ids = {"item_id": item["id"], "output_index": oi}
            if kind == "message":
                text = item["content"][0]["text"]
                events.append({"type": "response.content_part.added", **ids, "content_index": 0,
                               "part": {"type": "output_text", "text": "", "annotations": []}})  # fmt: skip
                for c in self._chunks(req):
                    events.append({"type": "response.output_text.delta", **ids,
                                   "content_index": 0, "delta": c})  # fmt: skip
                events.append({"type": "response.output_text.done", **ids, "content_index": 0,
                               "text": text})  # fmt: skip
                events.append({"type": "response.content_part.done", **ids, "content_index": 0,
                               "part": item["content"][0]})  # fmt: skip
            elif kind == "reasoning":
                for r in req.get("mock_reasoning", []):
                    events.append({"type": "response.reasoning_summary_text.delta", **ids,
                                   "summary_index": 0, "delta": r})  # fmt: skip
                events.append({"type": "response.reasoning_summary_text.done", **ids,
                               "summary_index": 0, "text": item["summary"][0]["text"]})  # fmt: skip
            else:
                for a in req["mock_tool_call"]["arguments_chunks"]:
                    events.append({"type": "response.function_call_arguments.delta", **ids,
                                   "delta": a})  # fmt: skip
                events.append({"type": "response.function_call_arguments.done", **ids,
                               "arguments": item["arguments"]})  # fmt: skip
            events.append({"type": "response.output_item.done", "output_index": oi, "item": item})
        events.append({"type": "response.completed", "response": whole})
        for seq, event in enumerate(events):
            event["sequence_number"] = seq
        return events

    def _scripted(self, req: dict[str, Any]) -> dict[str, Any]:
        """The request with its script entry's fields added (its own fields win)."""
        messages = req.get("messages") or []
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        prompt = users[-1].get("content") if users else req.get("prompt")
        if not isinstance(prompt, str) or prompt not in self.script:
            return req
        entry = self.script[prompt]
        seen = self.script_seen[prompt] = self.script_seen.get(prompt, 0) + 1
        fields = {_SCRIPT_FIELDS[k]: v for k, v in entry.items() if k in _SCRIPT_FIELDS}
        if seen <= int(entry.get("fail_first", 0)):
            fields = {"mock_status": 503, "mock_error": "scripted failure"}
        return {**fields, **req}

    def _reply(self, req: dict[str, Any]) -> str:
        if "mock_chunks" in req:
            return "".join(req["mock_chunks"])
        return str(req.get("mock_reply", DEFAULT_REPLY))

    def _whole(self, req: dict[str, Any], chat: bool) -> dict[str, Any]:
        text = self._reply(req)
        model = req.get("model", "mock-model")
        usage = {"prompt_tokens": 5, "completion_tokens": len(text), "total_tokens": 5 + len(text)}
        if not chat:
            return {"id": "cmpl-mock", "object": "text_completion", "created": int(time.time()),
                    "model": model, "choices": [{"index": 0, "text": text,
                    "finish_reason": "stop", "logprobs": None}], "usage": usage}  # fmt: skip
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if "mock_refusal" in req:
            message = {"role": "assistant", "content": None, "refusal": str(req["mock_refusal"])}
        if "mock_reasoning" in req:
            message["reasoning_content"] = "".join(req["mock_reasoning"])
        finish = "stop"
        if "mock_tool_call" in req:
            tc = req["mock_tool_call"]
            message["tool_calls"] = [
                {
                    "id": "call_mock",
                    "type": "function",
                    "function": {"name": tc["name"], "arguments": "".join(tc["arguments_chunks"])},
                }
            ]
            message["content"] = None if "mock_reply" not in req else text
            finish = "tool_calls"
        return {"id": "chatcmpl-mock", "object": "chat.completion", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "message": message,
                "finish_reason": finish, "logprobs": None}], "usage": usage}  # fmt: skip

    def _chunks(self, req: dict[str, Any]) -> list[str]:
        if "mock_chunks" in req:
            return [str(c) for c in req["mock_chunks"]]
        text = self._reply(req)
        n = self.chunk_chars
        return [text[i : i + n] for i in range(0, len(text), n)]

    async def _stream(self, req: dict[str, Any], chat: bool, receive: Any, send: Any) -> None:
        self.stats["streams_started"] += 1
        delay = float(req.get("mock_delay_ms", self.token_delay * 1000)) / 1000
        model = req.get("model", "mock-model")
        created = int(time.time())
        base = {"id": "chatcmpl-mock" if chat else "cmpl-mock", "created": created, "model": model,
                "object": "chat.completion.chunk" if chat else "text_completion"}  # fmt: skip
        events: list[dict[str, Any]] = []
        if chat:
            events.append({"role": "assistant", "content": ""})
            for r in req.get("mock_reasoning", []):
                events.append({"reasoning_content": r})
            if "mock_refusal" in req:
                events.append({"refusal": str(req["mock_refusal"])})
            else:
                events.extend({"content": c} for c in self._chunks(req))
            tc = req.get("mock_tool_call")
            if tc:
                events.append(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_mock",
                                "type": "function",
                                "function": {"name": tc["name"], "arguments": ""},
                            }
                        ]
                    }
                )
                for a in tc["arguments_chunks"]:
                    events.append({"tool_calls": [{"index": 0, "function": {"arguments": a}}]})
        else:
            events.extend({"text": c} for c in self._chunks(req))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        disconnected = asyncio.Event()

        async def watch() -> None:
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    disconnected.set()
                    return

        watcher = asyncio.create_task(watch())
        break_after = req.get("mock_break_after")
        try:
            for n, ev in enumerate(events):
                if break_after is not None and n >= int(break_after):
                    raise ConnectionResetError("mock upstream cut the stream")
                if disconnected.is_set():
                    self.stats["streams_cancelled"] += 1
                    return
                if chat:
                    choice: dict[str, Any] = {"index": 0, "delta": ev, "finish_reason": None}
                else:
                    choice = {"index": 0, "text": ev["text"], "finish_reason": None,
                              "logprobs": None}  # fmt: skip
                await _event(send, {**base, "choices": [choice]})
                if delay:
                    await asyncio.sleep(delay)
            if disconnected.is_set():
                self.stats["streams_cancelled"] += 1
                return
            finish = "tool_calls" if req.get("mock_tool_call") else "stop"
            last = (
                {"index": 0, "delta": {}, "finish_reason": finish}
                if chat
                else {"index": 0, "text": "", "finish_reason": finish, "logprobs": None}
            )
            await _event(send, {**base, "choices": [last]})
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n",
                        "more_body": False})  # fmt: skip
            self.stats["streams_completed"] += 1
        except OSError:
            self.stats["streams_cancelled"] += 1
        finally:
            watcher.cancel()


def _error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


async def _event(send: Any, obj: dict[str, Any]) -> None:
    await send({"type": "http.response.body", "body": b"data: " + orjson.dumps(obj) + b"\n\n",
                "more_body": True})  # fmt: skip


async def _json(send: Any, status: int, obj: Any) -> None:
    await _raw(send, status, orjson.dumps(obj), b"application/json")


async def _raw(
    send: Any, status: int, body: bytes, ctype: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:  # fmt: skip
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status,
                "headers": headers + (extra or [])})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description="Mock OpenAI-compatible upstream")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--token-delay-ms", type=float, default=0.0)
    ap.add_argument("--chunk-chars", type=int, default=4)
    ap.add_argument("--script", help="JSONL of scripted answers by question (see the docstring)")
    args = ap.parse_args()
    app = MockUpstream(args.token_delay_ms, args.chunk_chars,
                       load_script(args.script) if args.script else None)  # fmt: skip
    print(
        f"mock upstream: http://{args.host}:{args.port}/v1 (start the gateway with "
        f"GATEWAY_UPSTREAM_URL=http://{args.host}:{args.port}/v1)",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
