"""Security assessment (TC260-003): the runs in ``Settings.assess_dir``, their status, the last
report and its files, and the upload of a filled manual-sampling sheet.

Runs are started on a host with ``gateway assess run`` (they take minutes to hours and
must survive a console restart); the console reads what they write. An uploaded manual
sheet is checked row by row, stored in the run directory, and the report is rebuilt with the
live policy and classifier, like ``gateway assess report``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, HTMLResponse, Response

from gateway.assess.artifacts import write_reports
from gateway.assess.manual import ManualResult, SheetError, read_sheet
from gateway.assess.report import ReportInputs, build_report
from gateway.assess.rundir import RunDir
from gateway.assess.runs import DOWNLOADS, list_runs, run_dir, summary
from gateway.console.web import PREFIX, Ctx, Refused, redirect, with_headers

MAX_SHEET_BYTES = 16 * 1024 * 1024


def _root(ctx: Ctx) -> Path:
    return Path(ctx.state.settings.assess_dir)


def _run(ctx: Ctx) -> RunDir:
    rd = run_dir(_root(ctx), ctx.request.path_params["run"])
    if rd is None:
        raise Refused(404, ctx.t("没有这次评估。", "No such assessment run."))
    return rd


async def page(ctx: Ctx) -> Response:
    runs = await asyncio.to_thread(list_runs, _root(ctx))
    latest = next((r for r in runs if r.conclusion is not None), None)
    if latest is not None:
        rd = run_dir(_root(ctx), latest.name)
        latest = summary(rd, with_report=True) if rd is not None else None
    return ctx.console.render(ctx, "assess.html", runs=runs, latest=latest,
                              assess_dir=str(_root(ctx)))  # fmt: skip


async def run_page(ctx: Ctx) -> Response:
    rd = _run(ctx)
    run = await asyncio.to_thread(summary, rd, True)
    return ctx.console.render(ctx, "assess_run.html", run=run, meta=rd.meta())


async def report(ctx: Ctx) -> Response:
    rd = _run(ctx)
    lang = "en" if ctx.request.query_params.get("lang") == "en" else "zh"
    path = rd.report_path(lang, "html")
    if not path.exists():
        raise Refused(404, ctx.t("这次评估还没有报告。", "This run has no report yet."))
    # The report is standalone (inline style, no script): its own, stricter policy.
    resp = HTMLResponse(path.read_text("utf-8"))
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return with_headers(resp)


async def download(ctx: Ctx) -> Response:
    rd = _run(ctx)
    name = ctx.request.path_params["name"]
    if name not in DOWNLOADS or not (rd.path / name).exists():
        raise Refused(404, ctx.t("没有这个文件。", "No such file."))
    ctx.db.log(ctx.user.name, "assess_download", f"{rd.path.name}/{name}")
    file = FileResponse(rd.path / name, media_type=DOWNLOADS[name],
                        filename=f"{rd.path.name}-{name}")  # fmt: skip
    return with_headers(file)


async def upload_manual(ctx: Ctx) -> Response:
    rd = _run(ctx)
    upload = ctx.form.get("file") if ctx.form is not None else None
    if not isinstance(upload, UploadFile):
        raise Refused(400, ctx.t("请选择文件。", "Choose a file."))
    data = await upload.read(MAX_SHEET_BYTES + 1)
    if len(data) > MAX_SHEET_BYTES:
        raise Refused(413, "file too large")
    results = rd.results("service")
    ids = {i for i, r in results.items() if r["bank"] == "generated_content" and not r.get("error")}
    try:
        verdicts = await asyncio.to_thread(_store_sheet, rd, data, ids)
    except SheetError as e:
        raise Refused(400, "\n".join(e.problems[:20])) from None
    state = ctx.state
    inputs = ReportInputs(Path(state.policies.path), state.pipeline.classifier)
    rebuilt = await build_report(rd, inputs)
    await asyncio.to_thread(write_reports, rd, rebuilt)
    ctx.db.log(ctx.user.name, "assess_manual", rd.path.name, ctx.field("reason"),
               judged=len(verdicts.verdicts))  # fmt: skip
    return redirect(f"{PREFIX}/assess/{rd.path.name}")


def _store_sheet(rd: RunDir, data: bytes, ids: set[str]) -> ManualResult:
    """Check the uploaded sheet, then (only if it reads cleanly) make it the run's sheet."""
    fd, tmp = tempfile.mkstemp(suffix=".xlsx", dir=rd.path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        result = read_sheet(Path(tmp), ids)
        os.replace(tmp, rd.manual_path)
        return result
    finally:
        Path(tmp).unlink(missing_ok=True)
