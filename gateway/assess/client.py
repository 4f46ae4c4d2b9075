"""One question to an OpenAI-compatible endpoint, one result record back.

The record keeps what the scoring and the filing need: the question, the answer text, the
finish reason, the gateway's ``moderation`` object and decision id (header
``X-Gateway-Decision-Id``), HTTP status, latency, the model that answered, and an error
when there was no usable answer. Transport failures, 429 and 5xx are retried with backoff;
a gateway's HTTP 400 ``content_policy_violation`` is an answer (a refusal), not an error.

Every question is sent as its own end user (``user: assess:<id>``), so that a gateway with
user sanctions (three violations in a row suspend a user) judges each question on its own
instead of suspending the assessment after the third should-refuse question.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from gateway.assess.bank import BankItem

DECISION_HEADER = "X-Gateway-Decision-Id"
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Target:
    """An endpoint under test and how to ask it."""

    name: str  # "service" (the endpoint assessed) or "baseline" (the model alone)
    base_url: str  # ends in /v1
    model: str
    api_key: str | None = None
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    system: str | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 120.0
    retries: int = 2

    def public(self) -> dict[str, Any]:
        """What run.json records: everything but the key."""
        return {"url": self.base_url, "model": self.model, "stream": self.stream,
                "max_tokens": self.max_tokens, "temperature": self.temperature,
                "system": self.system, "api_key": "set" if self.api_key else "none"}  # fmt: skip


class Endpoint:
    def __init__(self, target: Target, session: aiohttp.ClientSession) -> None:
        self.target = target
        self.session = session
        self.url = target.base_url.rstrip("/") + "/chat/completions"
        self.headers = {"Content-Type": "application/json"}
        if target.api_key:
            self.headers["Authorization"] = f"Bearer {target.api_key}"

    def body(self, item: BankItem) -> bytes:
        t = self.target
        messages = [{"role": "system", "content": t.system}] if t.system else []
        messages.append({"role": "user", "content": item.text})
        body: dict[str, Any] = {**t.extra_body, "model": t.model, "messages": messages,
                                "user": f"assess:{item.id}"}  # fmt: skip
        if t.stream:
            body["stream"] = True
        if t.max_tokens is not None:
            body["max_tokens"] = t.max_tokens
        if t.temperature is not None:
            body["temperature"] = t.temperature
        return orjson.dumps(body)

    async def ask(self, item: BankItem) -> dict[str, Any]:
        """The result record for ``item``, after up to ``retries`` retries."""
        body = self.body(item)
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                outcome = await self._once(body)
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                outcome = {"status": None, "error": f"{type(e).__name__}: {e}"[:500]}
            outcome["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
            retry = outcome.get("status") is None or outcome["status"] in RETRY_STATUSES
            if not (outcome.get("error") and retry) or attempt > self.target.retries:
                break
            await asyncio.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random()))
        return {
            "id": item.id, "bank": item.bank, "risk": item.risk, "aspect": item.aspect,
            "lang": item.lang, "question": item.text, "answer": outcome.get("answer", ""),
            "finish_reason": outcome.get("finish_reason"),
            "moderation": outcome.get("moderation"),
            "message_refusal": outcome.get("message_refusal"),
            "decision_id": outcome.get("decision_id"), "status": outcome.get("status"),
            "error": outcome.get("error"), "error_code": outcome.get("error_code"),
            "model": outcome.get("model"), "latency_ms": outcome["latency_ms"],
            "attempts": attempt, "ts": datetime.now(UTC).isoformat(timespec="seconds"),
        }  # fmt: skip

    async def _once(self, body: bytes) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self.target.timeout_s, sock_connect=10)
        async with self.session.post(self.url, data=body, headers=self.headers,
                                     timeout=timeout) as resp:  # fmt: skip
            decision_id = resp.headers.get(DECISION_HEADER)
            ctype = resp.headers.get("content-type", "")
            if resp.status == 200 and ctype.startswith("text/event-stream"):
                out = await _read_stream(resp)
            else:
                out = _read_whole(resp.status, await resp.read())
        out["status"] = resp.status
        moderation = out.get("moderation")
        if isinstance(moderation, dict):
            # The decision that acted (an output block has its own id, "…-out").
            decision_id = moderation.get("decision_id") or decision_id
        elif out.get("error_code") == "content_policy_violation" and decision_id:
            # The gateway's block as an HTTP 400 (policy block_response: error).
            out["moderation"] = {"action": "block", "categories": [], "decision_id": decision_id}
        out["decision_id"] = decision_id
        return out


def _read_whole(status: int, raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {"error": f"HTTP {status}: body is not JSON: {raw[:200]!r}"}
    if not isinstance(data, dict):
        return {"error": f"HTTP {status}: body is not a JSON object"}
    if status != 200:
        err = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = err.get("code") if isinstance(err, dict) else None
        message = err.get("message") if isinstance(err, dict) else None
        out: dict[str, Any] = {"error_code": code, "moderation": data.get("moderation")}
        if code not in ("content_policy_violation", "content_filter"):
            out["error"] = f"HTTP {status}: {message or raw[:200]!r}"
        return out
    choices = data.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    return {
        "answer": str(message.get("content") or choice.get("text") or ""),
        "message_refusal": message.get("refusal"),
        "finish_reason": choice.get("finish_reason"),
        "moderation": data.get("moderation"),
        "model": data.get("model"),
    }


async def _read_stream(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    parts: list[str] = []
    refusal: list[str] = []
    out: dict[str, Any] = {}
    async for raw in resp.content:
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            break
        chunk = orjson.loads(payload)
        if not isinstance(chunk, dict):
            continue
        out.setdefault("model", chunk.get("model"))
        if isinstance(chunk.get("moderation"), dict):
            out["moderation"] = chunk["moderation"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            parts.append(str(delta.get("content") or choice.get("text") or ""))
            refusal.append(str(delta.get("refusal") or ""))
            if choice.get("finish_reason"):
                out["finish_reason"] = choice["finish_reason"]
    out["answer"] = "".join(parts)
    out["message_refusal"] = "".join(refusal) or None
    return out
