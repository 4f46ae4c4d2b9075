"""A minimal real HTTP server for the crash test: one decision record per request, written
through ``AuditWriter`` before the response is sent (as the gateway does).

Run: ``GATEWAY_AUDIT_URL=... AUDIT_SPOOL_DIR=... GATEWAY_PSEUDONYM_KEY=... uvicorn
tests.support.audit_server:app``; ``GATEWAY_AUDIT_CHECKPOINT_DIR`` (and ``..._INTERVAL``) turn on
checkpoints.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from gateway.audit import AuditStore, AuditUnavailable, AuditWriter, DecisionRecord, open_store
from gateway.audit.keys import AuditKeys


class SlowDisk:
    """Adds a delay before each commit, as a slow disk would. It widens the window in
    which a server that acknowledged before committing would lose records to a crash, so
    the crash test can tell such a server apart from a correct one."""

    def __init__(self, inner: AuditStore, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    async def append(self, records: Sequence[DecisionRecord]) -> None:
        await asyncio.sleep(self.delay_s)
        await self.inner.append(records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    store = open_store(os.environ["GATEWAY_AUDIT_URL"])
    delay_ms = float(os.environ.get("AUDIT_SLOW_COMMIT_MS", "0"))
    checkpoints = os.environ.get("GATEWAY_AUDIT_CHECKPOINT_DIR")
    writer = AuditWriter(
        SlowDisk(store, delay_ms / 1000) if delay_ms else store,
        keys=AuditKeys.from_secret(os.environ["GATEWAY_PSEUDONYM_KEY"]),
        spool_dir=Path(os.environ["AUDIT_SPOOL_DIR"]),
        checkpoint_dir=Path(checkpoints) if checkpoints else None,
        checkpoint_interval=float(os.environ.get("GATEWAY_AUDIT_CHECKPOINT_INTERVAL", "60")),
        fail_open=os.environ.get("AUDIT_FAIL_OPEN", "1") == "1",
        retry_interval=0.2,
    )
    await writer.start()
    app.state.writer = writer
    try:
        yield
    finally:
        await writer.close()
        await store.close()


async def decide(request: Request) -> JSONResponse:
    writer: AuditWriter = request.app.state.writer
    await request.body()  # read the whole request, as the gateway does
    decision_id = uuid.uuid4().hex
    record = DecisionRecord(
        id=decision_id, ts=datetime.now(UTC), direction="input", action="allow",
        request_id=request.headers.get("x-request-id", ""), route="/decide",
        text_mode="none", text=None, ending="complete",
    )  # fmt: skip
    try:
        await writer.write(record)
    except AuditUnavailable as e:
        return JSONResponse({"error": {"message": str(e), "code": "audit_unavailable"}}, 503)
    return JSONResponse(
        {"decision_id": decision_id}, headers={"X-Gateway-Decision-Id": decision_id}
    )


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[Route("/decide", decide, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
