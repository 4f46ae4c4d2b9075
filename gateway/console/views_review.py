"""The review queue: decisions the policy sent to ``review``; a reviewer confirms (the
content was unsafe) or overturns (it was fine). The labels export as the JSONL that
``gateway eval`` and the classifier training recipes read."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from starlette.responses import Response

from gateway import taxonomy
from gateway.audit.record import DecisionRecord
from gateway.audit.store import RecordFilter, iter_records
from gateway.console.tryit import KEPT_TEXT
from gateway.console.views_log import log_store
from gateway.console.web import PREFIX, Ctx, Refused, redirect

QUEUE_DAYS = 90  # older unreviewed items fall out of the queue (still in the log)
SHOWN = 100
VERDICTS = {"confirm": 1, "overturn": 0}
COUNT_CAP = 10_000  # the start page counts up to this many, then says "10000+"
CHINA = timezone(timedelta(hours=8))  # "today" for staff in China


def _text(r: DecisionRecord) -> str | None:
    return r.text if r.text_mode in KEPT_TEXT and r.text else None


async def _pending(ctx: Ctx, keep: int) -> tuple[list[DecisionRecord], int]:
    """The newest ``keep`` unreviewed review items (newest first) and how many there are."""
    store = log_store(ctx)
    flt = RecordFilter(since=datetime.now(UTC) - timedelta(days=QUEUE_DAYS), action="review")
    pending: deque[DecisionRecord] = deque(maxlen=keep)
    page: list[DecisionRecord] = []
    total = 0

    def flush() -> None:
        nonlocal total
        done = ctx.db.reviewed_ids([r.id for r in page])
        fresh = [r for r in page if r.id not in done]
        total += len(fresh)
        pending.extend(fresh)
        page.clear()

    async for r in iter_records(store, flt):
        page.append(r)
        if len(page) >= 500:
            flush()
    flush()
    return list(reversed(pending)), total


async def queue(ctx: Ctx) -> Response:
    pending, total = await _pending(ctx, SHOWN)
    done = ctx.db.reviews(50, newest_first=True)
    return ctx.console.render(
        ctx, "reviews.html", pending=pending, total=total, done=done,
        categories=taxonomy.categories(), text_of=_text,
        audit=ctx.state.policies.current.base.policy.audit,
    )  # fmt: skip


async def home_counts(ctx: Ctx) -> dict[str, Any]:
    """For the start page: reviews waiting, and blocks and reviews since midnight (UTC+8)."""
    _, waiting = await _pending(ctx, 1)
    midnight = datetime.now(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    counts = {"waiting": waiting}
    for action in ("block", "review"):
        n = 0
        async for _ in iter_records(log_store(ctx), RecordFilter(since=midnight, action=action)):
            n += 1
            if n >= COUNT_CAP:
                break
        counts[action] = n
    return {**counts, "cap": COUNT_CAP}


async def decide(ctx: Ctx) -> Response:
    verdict = ctx.field("verdict")
    if verdict not in VERDICTS:
        raise Refused(
            400, ctx.t("请选择“确认违规”或“推翻”。", "verdict must be confirm or overturn")
        )
    rid = ctx.request.path_params["id"]
    found = await log_store(ctx).get(rid)
    if found is None or found.action != "review":
        raise Refused(404, ctx.t("没有这条待审记录。", "No such review item."))
    label = VERDICTS[verdict]
    ctx.db.add_review(
        rid, ctx.user.name, verdict, label, found.categories if label else (), found.direction,
        _text(found), ctx.field("reason"),
    )  # fmt: skip
    ctx.db.log(ctx.user.name, f"review_{verdict}", rid, ctx.field("reason"),
               categories=list(found.categories))  # fmt: skip
    return redirect(f"{PREFIX}/reviews")


def training_jsonl(reviews: list[dict[str, object]]) -> bytes:
    """Labels with their text, one JSON object per line: text, label, categories, direction.
    Items whose text the log did not keep cannot train anything and are left out."""
    lines = [
        orjson.dumps(
            {
                "text": r["text"],
                "label": r["label"],
                "categories": r["categories"],
                "direction": r["direction"],
            }
        )
        for r in reviews
        if r["text"]
    ]
    return b"".join(line + b"\n" for line in lines)


async def export(ctx: Ctx) -> Response:
    reviews = ctx.db.reviews()
    ctx.db.log(ctx.user.name, "export_labels", "jsonl", "", rows=len(reviews))
    return Response(
        training_jsonl(reviews), media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="review-labels.jsonl"'},
    )  # fmt: skip
