"""Admin HTTP routes for the decision log, under ``/admin/audit/``.

The log is readable only here (with the admin bearer token) or through the CLI on the
host. With no token configured the routes answer 404, as if they did not exist. Errors use
the gateway's wire shape ``{"error": {"message", "type", "code"}}``.

- ``GET /admin/audit/records``: filtered page of records (``limit`` ≤ 1000, ``cursor``);
  filters ``since``, ``until``, ``tenant``, ``category``, ``action``, ``direction``, ``ending``
- ``GET /admin/audit/records/{id}``: one record by decision id
- ``GET /admin/audit/export?format=jsonl|csv|xlsx``: download
- ``GET /admin/audit/report?format=json|html``: filing statistics
"""

from __future__ import annotations

import base64
import hmac
import os
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import SecretStr
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.audit.checkpoint import CheckpointReader
from gateway.audit.export import MEDIA_TYPES, csv_chunks, jsonl_chunks, write_xlsx
from gateway.audit.filters import BadFilter, describe, filter_from, parse_time
from gateway.audit.report import build_report, render_html
from gateway.audit.store import AuditStore, iter_records

MAX_LIMIT = 1000
Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str, code: str, kind: str = "invalid_request_error") -> Response:
    body = {"error": {"message": message, "type": kind, "code": code}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def admin_routes(
    store: AuditStore,
    admin_token: SecretStr | str | None,
    checkpoints: CheckpointReader | None = None,
) -> list[Route]:
    """The audit admin routes; mount them in the app's route list. With ``checkpoints``
    the report lists the newest signed checkpoint of each chain it covers."""
    secret = admin_token.get_secret_value() if isinstance(admin_token, SecretStr) else admin_token
    expected = f"Bearer {secret}".encode() if secret else None

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if expected is None:
                return _error(404, "not found", "not_found")
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return _error(
                    401, "admin bearer token required", "unauthorized", "authentication_error"
                )
            try:
                return await handler(request)
            except BadFilter as e:
                return _error(400, str(e), "invalid_filter")

        return endpoint

    async def records(request: Request) -> Response:
        q = request.query_params
        flt = filter_from(q.get)
        try:
            limit = int(q.get("limit", "100"))
        except ValueError:
            raise BadFilter("limit: must be an integer") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise BadFilter(f"limit: must be between 1 and {MAX_LIMIT}")
        page = await store.query(flt, after=_cursor(q.get("cursor")), limit=limit)
        last = page[-1] if len(page) == limit else None
        return _json({
            "records": [r.to_dict() for r in page],
            "next_cursor": _encode_cursor(last.ts, last.id) if last else None,
        })  # fmt: skip

    async def record(request: Request) -> Response:
        found = await store.get(request.path_params["record_id"])
        if found is None:
            return _error(404, "no such decision record", "not_found")
        return _json(found.to_dict())

    async def export(request: Request) -> Response:
        fmt = request.query_params.get("format", "jsonl")
        if fmt not in MEDIA_TYPES:
            raise BadFilter("format: must be jsonl, csv or xlsx")
        flt = filter_from(request.query_params.get)
        name = f"audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.{fmt}"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "xlsx":
            # A workbook is a zip: it cannot be streamed, so it is built in a temp file.
            fd, name_ = tempfile.mkstemp(suffix=".xlsx")
            os.close(fd)
            path = Path(name_)
            try:
                await write_xlsx(iter_records(store, flt), path)
            except BaseException:
                os.unlink(path)
                raise
            return FileResponse(
                path, media_type=MEDIA_TYPES[fmt], headers=disposition,
                background=BackgroundTask(path.unlink),
            )  # fmt: skip
        chunks = jsonl_chunks if fmt == "jsonl" else csv_chunks
        return StreamingResponse(
            chunks(iter_records(store, flt)), media_type=MEDIA_TYPES[fmt], headers=disposition
        )

    async def report(request: Request) -> Response:
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "html"):
            raise BadFilter("format: must be json or html")
        flt = filter_from(request.query_params.get)
        result = await build_report(iter_records(store, flt), describe(flt), checkpoints)
        return HTMLResponse(render_html(result)) if fmt == "html" else _json(result)

    return [
        Route("/admin/audit/records", guarded(records), methods=["GET"]),
        Route("/admin/audit/records/{record_id}", guarded(record), methods=["GET"]),
        Route("/admin/audit/export", guarded(export), methods=["GET"]),
        Route("/admin/audit/report", guarded(report), methods=["GET"]),
    ]


def _encode_cursor(ts: datetime, record_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts.isoformat(), record_id])).decode()


def _cursor(value: str | None) -> tuple[datetime, str] | None:
    if not value:
        return None
    try:
        ts, record_id = orjson.loads(base64.urlsafe_b64decode(value))
        return parse_time("cursor", ts), str(record_id)
    except (ValueError, TypeError):
        raise BadFilter("cursor: not a cursor this API returned") from None
