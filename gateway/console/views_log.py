"""The decision log browser: filter, page, open a record, export, statistics report.

It reads through the audit package (``RecordFilter``, ``filter_from``, the exporters and
``build_report``); nothing here knows how records are stored.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import orjson
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, HTMLResponse, Response, StreamingResponse

from gateway import taxonomy
from gateway.audit.export import MEDIA_TYPES, csv_chunks, jsonl_chunks, write_xlsx
from gateway.audit.filters import BadFilter, describe, filter_from, parse_time
from gateway.audit.report import build_report, render_html
from gateway.audit.store import AuditStore, RecordFilter, iter_records
from gateway.console.log_pages import newest
from gateway.console.web import Ctx, Refused, with_headers
from gateway.decision import Action, Direction
from gateway.reports.stats import add_to_report

PAGE = 50
FILTER_KEYS = ("since", "until", "tenant", "category", "action", "direction")


def log_store(ctx: Ctx) -> AuditStore:
    """The decision log on the app state; a 409 page when none is configured."""
    store: AuditStore | None = ctx.state.audit_store
    if store is None:
        raise Refused(409, ctx.t("未配置决策日志。", "The decision log is not configured."))
    return store


def _filter(ctx: Ctx) -> tuple[RecordFilter, dict[str, str]]:
    q = ctx.request.query_params
    given = {k: q[k] for k in FILTER_KEYS if q.get(k)}
    try:
        return filter_from(given.get), given
    except BadFilter as e:
        raise Refused(400, ctx.t("筛选条件有误：日期请写成 2025-01-31 或 2025-01-31T08:00 这样的格式。",
                                 str(e))) from None  # fmt: skip


def _cursor(ctx: Ctx, raw: str | None) -> tuple[datetime, str] | None:
    if not raw or "|" not in raw:
        return None
    ts, rid = raw.split("|", 1)
    try:
        return parse_time("cursor", ts), rid
    except BadFilter as e:
        raise Refused(400, ctx.t("翻页参数有误。", str(e))) from None


async def browse(ctx: Ctx) -> Response:
    """Newest first: the latest blocks are on the first page; "older" pages back in time."""
    store = log_store(ctx)
    flt, given = _filter(ctx)
    before = _cursor(ctx, ctx.request.query_params.get("before"))
    records = await newest(store, flt, PAGE, before=before)
    nxt = None
    if len(records) == PAGE:
        last = records[-1]
        nxt = urlencode({**given, "before": f"{last.ts.isoformat()}|{last.id}"})
    return ctx.console.render(
        ctx, "log.html", records=records, given=given, next_query=nxt, paged=before is not None,
        filter_query=urlencode(given), categories=taxonomy.categories(),
        actions=[a.value for a in Action], directions=[d.value for d in Direction],
    )  # fmt: skip


async def record(ctx: Ctx) -> Response:
    found = await log_store(ctx).get(ctx.request.path_params["id"])
    if found is None:
        raise Refused(404, ctx.t("没有这条记录。", "No such record."))
    review = next(iter(ctx.db.reviews(1, record_id=found.id)), None)
    return ctx.console.render(
        ctx, "record.html", r=found, review=review,
        scores=sorted(found.scores.items(), key=lambda kv: -kv[1]),
        categories=taxonomy.categories(), audit=ctx.state.policies.current.base.policy.audit,
        raw=orjson.dumps(found.to_dict(), option=orjson.OPT_INDENT_2).decode(),
    )  # fmt: skip


async def export(ctx: Ctx) -> Response:
    store = log_store(ctx)
    flt, given = _filter(ctx)
    fmt = ctx.request.query_params.get("format", "csv")
    if fmt not in MEDIA_TYPES:
        raise Refused(
            400, ctx.t("格式应为 jsonl、csv 或 xlsx。", "format must be jsonl, csv or xlsx")
        )
    ctx.db.log(ctx.user.name, "export_log", fmt, "", filters=given)
    name = f"decisions.{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "xlsx":
        fd, tmp = tempfile.mkstemp(suffix=".xlsx")
        os.close(fd)
        await write_xlsx(iter_records(store, flt), Path(tmp))
        return FileResponse(tmp, media_type=MEDIA_TYPES[fmt], filename=name,
                            background=BackgroundTask(Path(tmp).unlink, missing_ok=True))  # fmt: skip
    chunks = jsonl_chunks if fmt == "jsonl" else csv_chunks
    return StreamingResponse(chunks(iter_records(store, flt)), media_type=MEDIA_TYPES[fmt],
                             headers=disposition)  # fmt: skip


async def report(ctx: Ctx) -> Response:
    store = log_store(ctx)
    flt, _ = _filter(ctx)
    result = await build_report(iter_records(store, flt), describe(flt))
    reports = ctx.state.reports
    extra = await add_to_report(result, reports.store, reports.now()) if reports else []
    ctx.db.log(ctx.user.name, "report", ctx.request.query_params.get("format", "html"))
    if ctx.request.query_params.get("format") == "json":
        return Response(orjson.dumps(result), media_type="application/json",
                        headers={"Content-Disposition": 'attachment; filename="report.json"'})  # fmt: skip
    # The report page is standalone (inline style, no script): its own, stricter policy.
    resp = HTMLResponse(render_html(result, extra=extra))
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return with_headers(resp)
