"""The keyword library: search, add, remove, bulk import, filing export, TC260-003 coverage.

Edits go to the draft like every other change; the page and its coverage table show the
draft's library when there is one (what publishing would make live), the filing export is
the live library (or the draft's, when asked for explicitly).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, Response

from gateway import taxonomy
from gateway.console.web import PREFIX, Ctx, Refused, redirect
from gateway.console.wordfiles import add_terms, check_term, library, remove_term
from gateway.console.workspace import edit, live_bundle, refuse_edit, working
from gateway.lexicon.filing import coverage, export
from gateway.lexicon.importer import ImportResult, import_terms
from gateway.lexicon.library import LexiconError
from gateway.lexicon.matcher import Term
from gateway.policy.loader import PolicyError

PAGE = 100
MAX_IMPORT_BYTES = 8 * 1024 * 1024
EXPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


async def page(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    query, category = q.get("q", "").strip(), q.get("category", "")
    try:
        start = max(int(q.get("start", "0")), 0)
    except ValueError:
        start = 0
    _, files, draft = working(ctx)
    terms = library(files)
    shown = [
        t for t in terms
        if (not query or query.casefold() in t.text.casefold())
        and (not category or t.category == category)
    ]  # fmt: skip
    report = coverage(Term(t.text, t.category, t.level) for t in terms)
    imported = (q.get("imported", ""), q.get("read", ""))
    return ctx.console.render(
        ctx, "lexicon.html", terms=shown[start : start + PAGE], total=len(shown), start=start,
        page=PAGE, q=query, category=category, categories=taxonomy.categories(),
        coverage=report, draft=draft, library_size=len(terms),
        imported=imported if all(x.isdigit() for x in imported) else None,
    )  # fmt: skip


def _level(ctx: Ctx) -> int:
    try:
        return int(ctx.field("level", "3"))
    except ValueError:
        raise Refused(400, ctx.t("级别应为 1、2 或 3。", "level must be 1, 2 or 3")) from None


def _checked_term(ctx: Ctx) -> Term:
    try:
        return check_term(ctx.field("term"), ctx.field("category"), _level(ctx))
    except ValueError:
        raise Refused(400, ctx.t(
            "关键词须为 1 到 64 个字符（一行），并选择类别和级别。",
            "A term has 1 to 64 characters on one line, with a category and a level.")) from None  # fmt: skip


async def add(ctx: Ctx) -> Response:
    term = _checked_term(ctx)
    try:
        added = edit(ctx, lambda p, f: add_terms(f, p, [term])[0], "add_term", term.text,
                     category=term.category, level=term.level)  # fmt: skip
    except PolicyError as e:
        return await refuse_edit(ctx, e, page)
    if not added:
        # Nothing changed, so nothing is logged: say so instead of pretending.
        existing = next(t for t in library(working(ctx)[1])
                        if (t.text, t.category) == (term.text, term.category))  # fmt: skip
        ctx.flash.append(ctx.t(
            f"关键词“{term.text}”（{term.category}，{existing.level} 级）已在词库中（{existing.file}），没有修改。",
            f"“{term.text}” ({term.category}, level {existing.level}) is already in the library "
            f"({existing.file}); nothing changed."))  # fmt: skip
        resp = await page(ctx)
        resp.status_code = 409
        return resp
    return redirect(f"{PREFIX}/lexicon?q={_q(term.text)}")


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text)


async def remove(ctx: Ctx) -> Response:
    term, category = ctx.field("term"), ctx.field("category")
    removed = 0

    def change(policy: str, files: dict[str, str]) -> dict[str, str]:
        nonlocal removed
        out, removed = remove_term(files, term, category)
        if not removed:
            raise ValueError(ctx.t("词库中没有这个关键词。", "No such term."))
        return out

    try:
        edit(ctx, change, "remove_term", term, category=category)
    except ValueError as e:
        raise Refused(404, str(e)) from None
    return redirect(f"{PREFIX}/lexicon")


async def bulk_import(ctx: Ctx) -> Response:
    upload = ctx.form.get("file") if ctx.form is not None else None
    if not isinstance(upload, UploadFile):
        raise Refused(400, ctx.t("请选择文件。", "Choose a file."))
    data = await upload.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise Refused(413, ctx.t("文件过大（最多 8 MB）。", "File too large (8 MB at most)."))
    category, level = ctx.field("category"), _level(ctx)
    suffix = ".csv" if (upload.filename or "").lower().endswith(".csv") else ".txt"
    if not taxonomy.is_code(category) or not 1 <= level <= 3:
        raise Refused(400, ctx.t("请选择类别和级别。", "Choose a category and a level."))
    try:
        result = await asyncio.to_thread(_import_bytes, data, suffix, category, level)
    except (LexiconError, OSError) as e:
        raise Refused(400, ctx.t("无法读取这个文件：请上传每行一个关键词的 TXT，或带“关键词”列的 CSV。",
                                 f"Cannot read the file: {e}")) from None  # fmt: skip
    added: list[Term] = []

    def change(policy: str, files: dict[str, str]) -> dict[str, str]:
        nonlocal added
        out, added = add_terms(files, policy, result.terms)
        return out

    try:
        edit(ctx, change, "import_terms", upload.filename or "upload", category=category,
             read=len(result.terms), dropped=result.dropped)  # fmt: skip
    except PolicyError as e:
        return await refuse_edit(ctx, e, page)
    return redirect(f"{PREFIX}/lexicon?imported={len(added)}&read={len(result.terms)}")


def _import_bytes(data: bytes, suffix: str, category: str, level: int) -> ImportResult:
    # The importer reads files (encoding detection included); a temp file reuses it as is.
    fd, tmp = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return import_terms(tmp, category, None, level)
    finally:
        Path(tmp).unlink(missing_ok=True)


async def download(ctx: Ctx) -> Response:
    fmt = ctx.request.query_params.get("format", "xlsx")
    if fmt not in EXPORT_TYPES:
        raise Refused(400, ctx.t("格式应为 xlsx 或 csv。", "format must be xlsx or csv"))
    # Filing material is what is live; the draft's library only when asked for by name.
    draft = ctx.db.draft() if ctx.request.query_params.get("source") == "draft" else None
    files = draft.files if draft is not None else live_bundle(ctx.state.policies)[1]
    terms = [Term(t.text, t.category, t.level) for t in library(files)]
    fd, tmp = tempfile.mkstemp(suffix="." + fmt)
    os.close(fd)
    count = await asyncio.to_thread(export, terms, tmp)
    ctx.db.log(ctx.user.name, "export_keywords", fmt, "", rows=count,
               source="draft" if draft else "live")  # fmt: skip
    return FileResponse(
        tmp, media_type=EXPORT_TYPES[fmt], filename=f"keywords-filing.{fmt}",
        background=BackgroundTask(Path(tmp).unlink, missing_ok=True),
    )  # fmt: skip
