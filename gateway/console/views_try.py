""" "Try it": one text through the live policy and the draft, side by side; and the dry run
that replays logged traffic through the draft."""

from __future__ import annotations

from starlette.responses import Response

from gateway.console.draft import bundle_problems
from gateway.console.problems import explain_all
from gateway.console.tryit import Evaluator, dry_run
from gateway.console.web import Ctx, Refused
from gateway.decision import Direction
from gateway.policy.compiled import PolicySet
from gateway.policy.loader import PolicyError


def _tenants(ctx: Ctx) -> list[str]:
    return ["default", *sorted(ctx.state.policies.current.tenants)]


async def _draft_set(ctx: Ctx) -> tuple[PolicySet | None, list[str]]:
    draft = ctx.db.draft()
    if draft is None:
        return None, []
    try:
        return await ctx.console.compiler.compile(draft.files, draft.policy), []
    except PolicyError as e:
        return None, explain_all(bundle_problems(e), ctx.lang)


async def form(ctx: Ctx) -> Response:
    return ctx.console.render(
        ctx, "try.html", tenants=_tenants(ctx), text="", direction="input", tenant="default",
        results=None, problems=[], dry=None, has_draft=ctx.db.draft() is not None,
        audit=ctx.state.policies.current.base.policy.audit,
    )  # fmt: skip


async def run(ctx: Ctx) -> Response:
    text = ctx.field("text")
    direction = ctx.field("direction", "input")
    tenant = ctx.field("tenant", "default")
    if direction not in ("input", "output") or tenant not in _tenants(ctx):
        raise Refused(400, ctx.t("请选择方向和租户。", "unknown direction or tenant"))
    if not text.strip():
        raise Refused(400, ctx.t("请输入文本。", "Enter a text."))
    evaluator: Evaluator = ctx.console.evaluator(ctx.state)
    d = Direction(direction)
    results = {"live": await evaluator.check(ctx.state.policies.current, text, d, tenant, ctx.lang)}
    draft_set, problems = await _draft_set(ctx)
    if draft_set is not None:
        results["draft"] = await evaluator.check(draft_set, text, d, tenant, ctx.lang)
    return ctx.console.render(
        ctx, "try.html", tenants=_tenants(ctx), text=text, direction=direction, tenant=tenant,
        results=results, problems=problems, dry=None, has_draft=draft_set is not None,
        audit=ctx.state.policies.current.base.policy.audit,
    )  # fmt: skip


async def replay(ctx: Ctx) -> Response:
    store = ctx.state.audit_store
    if store is None:
        raise Refused(409, ctx.t("未配置决策日志。", "The decision log is not configured."))
    draft_set, problems = await _draft_set(ctx)
    if draft_set is None:
        raise Refused(409, "；".join(problems) or ctx.t("没有草稿。", "There is no draft."))
    try:
        hours = min(max(float(ctx.field("hours", "24")), 0.1), 24 * 31)
        limit = int(ctx.field("limit", "200"))
    except ValueError:
        raise Refused(
            400, ctx.t("小时数和条数必须是数字。", "hours and limit must be numbers")
        ) from None
    result = await dry_run(
        store, ctx.console.evaluator(ctx.state), ctx.state.policies.current, draft_set,
        hours=hours, limit=limit,
    )  # fmt: skip
    return ctx.console.render(
        ctx, "try.html", tenants=_tenants(ctx), text="", direction="input", tenant="default",
        results=None, problems=[], dry=result, has_draft=True,
        audit=ctx.state.policies.current.base.policy.audit,
    )  # fmt: skip
