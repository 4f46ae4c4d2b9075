"""Policy editing: the category table, one category's form, the draft (diff, validate,
publish, discard) and the version history (restore)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from gateway import taxonomy
from gateway.console.db import Draft
from gateway.console.draft import (
    RuleEdit,
    diff,
    parsed,
    problems_text,
    set_default_refusal,
    set_refusal,
    set_rule,
)
from gateway.console.publish import PublishRefused, check_may_publish, publish
from gateway.console.web import PREFIX, Ctx, Refused, redirect
from gateway.console.workspace import edit, live_bundle, working
from gateway.decision import Action
from gateway.policy.loader import PolicyError
from gateway.policy.model import DirectionRule, Localized, Policy

DIRECTIONS = ("input", "output")


def _refusal(policy: Policy, code: str) -> Localized | None:
    spec = policy.categories.get(code)
    return spec.refusal if spec is not None else None


async def overview(ctx: Ctx) -> Response:
    policy_file, files, draft = working(ctx)
    policy = parsed(files[policy_file], policy_file)
    rows = [
        (cat, {d: policy.rule(cat.code, d) for d in DIRECTIONS}, _refusal(policy, cat.code))
        for cat in taxonomy.categories().values()
    ]
    return ctx.console.render(ctx, "policy.html", rows=rows, draft=draft, policy=policy)


async def category_form(ctx: Ctx) -> Response:
    code = ctx.request.path_params["code"]
    if not taxonomy.is_code(code):
        raise Refused(404, "unknown category")
    policy_file, files, draft = working(ctx)
    policy = parsed(files[policy_file], policy_file)
    return ctx.console.render(
        ctx, "category.html", cat=taxonomy.categories()[code],
        rules={d: policy.rule(code, d) for d in DIRECTIONS},
        refusal=_refusal(policy, code), actions=[a.value for a in Action],
        draft=draft, errors=[],
    )  # fmt: skip


def _float(ctx: Ctx, name: str, optional: bool) -> float | None:
    raw = ctx.field(name).strip()
    if not raw and optional:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: not a number: {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: must be between 0 and 1")
    return value


def _rule(ctx: Ctx, d: str) -> RuleEdit:
    action = ctx.field(f"{d}_action")
    if action not in {a.value for a in Action}:
        raise ValueError(f"{d}_action: unknown action {action!r}")
    threshold = _float(ctx, f"{d}_threshold", optional=False)
    assert threshold is not None
    return RuleEdit(
        enabled=ctx.field(f"{d}_enabled") == "on", action=Action(action), threshold=threshold,
        review_threshold=_float(ctx, f"{d}_review_threshold", optional=True),
        flag_threshold=_float(ctx, f"{d}_flag_threshold", optional=True),
    )  # fmt: skip


def _as_edit(rule: DirectionRule) -> RuleEdit:
    return RuleEdit(rule.enabled, rule.action, rule.threshold, rule.review_threshold,
                    rule.flag_threshold)  # fmt: skip


async def category_save(ctx: Ctx) -> Response:
    code = ctx.request.path_params["code"]
    try:
        rules = {d: _rule(ctx, d) for d in DIRECTIONS}
        zh, en = ctx.field("refusal_zh"), ctx.field("refusal_en")

        def change(policy_file: str, files: dict[str, str]) -> dict[str, str]:
            # Only what the form changed is written, so the diff shows just that.
            text = files[policy_file]
            current = parsed(text, policy_file)
            for d, rule in rules.items():
                if _as_edit(current.rule(code, d)) != rule:
                    text = set_rule(text, code, d, rule, policy_file)
            spec = current.categories.get(code)
            old = spec.refusal if spec is not None else None
            if (old.zh if old else "", old.en if old else "") != (zh.strip(), en.strip()):
                text = set_refusal(text, code, zh, en, policy_file)
            return {**files, policy_file: text}

        edit(ctx, change, "edit_category", code,
             **{d: {"action": r.action.value, "enabled": r.enabled, "threshold": r.threshold,
                    "review_threshold": r.review_threshold, "flag_threshold": r.flag_threshold}
                for d, r in rules.items()})  # fmt: skip
    except (PolicyError, ValueError) as e:
        errors = problems_text(e) if isinstance(e, PolicyError) else [str(e)]
        ctx.flash.extend(errors)
        resp = await category_form(ctx)
        resp.status_code = 400
        return resp
    return redirect(f"{PREFIX}/draft")


async def draft_page(ctx: Ctx) -> Response:
    draft = ctx.db.draft()
    problems: list[str] = []
    diffs = []
    version = ""
    if draft is not None:
        _, live = live_bundle(ctx.state.policies)
        diffs = diff(live, draft.files)
        try:
            version = (await ctx.console.compiler.compile(draft.files, draft.policy)).version
        except PolicyError as e:
            problems = problems_text(e)
    try:
        may_publish = draft is not None and bool(check_may_publish(draft, ctx.user))
        why_not = ""
    except PublishRefused as e:
        may_publish, why_not = False, ctx.t(e.zh, e.en)
    return ctx.console.render(
        ctx, "draft.html", draft=draft, diffs=diffs, problems=problems, version=version,
        live_version=ctx.state.policies.current.version, may_publish=may_publish,
        why_not=why_not,
    )  # fmt: skip


def _announcer(ctx: Ctx) -> Callable[[], Awaitable[None]] | None:
    """Announce the new version to other replicas through Redis, as the file watcher does
    for a changed file (same keys and channel: the reloader's own code)."""
    reloader = ctx.state.reloader
    if reloader is None or reloader.redis is None:
        return None
    return reloader.announce


async def publish_draft(ctx: Ctx) -> Response:
    note = ctx.field("reason").strip()
    if not note:
        raise Refused(400, ctx.t("请填写发布说明。", "Please say why (publish note)."))
    draft = ctx.db.draft()
    try:
        async with ctx.console.publish_lock:
            done = await publish(
                ctx.db, ctx.console.compiler, ctx.state.policies, ctx.user, note,
                announce=_announcer(ctx),
            )  # fmt: skip
    except PublishRefused as e:
        ctx.db.log(ctx.user.name, "publish_refused", "draft", note, why=str(e))
        raise Refused(403, ctx.t(e.zh, e.en)) from None
    except PolicyError as e:
        raise Refused(400, "; ".join(problems_text(e))) from None
    ctx.db.log(ctx.user.name, "publish", f"version {done.version_id}", note,
               policy_version=done.policy_version, live=done.live,
               authors=list(draft.authors) if draft else [])  # fmt: skip
    return redirect(f"{PREFIX}/versions")


async def discard_draft(ctx: Ctx) -> Response:
    ctx.db.drop_draft()
    ctx.db.log(ctx.user.name, "discard_draft", "draft", ctx.field("reason"))
    return redirect(f"{PREFIX}/draft")


async def versions(ctx: Ctx) -> Response:
    return ctx.console.render(
        ctx, "versions.html", versions=ctx.db.versions(),
        live_version=ctx.state.policies.current.version,
    )  # fmt: skip


async def restore(ctx: Ctx) -> Response:
    """Restore = a new draft with that version's files; an approver who did not ask for the
    restore publishes it (four eyes hold for a rollback too)."""
    try:
        version = ctx.db.version(int(ctx.request.path_params["id"]))
    except ValueError:
        version = None
    if version is None:
        raise Refused(404, "no such version")
    ctx.db.save_draft(
        Draft(
            version.policy,
            version.files,
            (ctx.user.name,),
            ctx.state.policies.current.version,
            f"version {version.id}",
            time.time(),
        )
    )
    ctx.db.log(ctx.user.name, "restore_to_draft", f"version {version.id}", ctx.field("reason"),
               policy_version=version.policy_version)  # fmt: skip
    return redirect(f"{PREFIX}/draft")


async def refusals_form(ctx: Ctx) -> Response:
    policy_file, files, draft = working(ctx)
    policy = parsed(files[policy_file], policy_file)
    return ctx.console.render(ctx, "refusals.html", policy=policy, draft=draft)


async def refusals_save(ctx: Ctx) -> Response:
    texts = {d: (ctx.field(f"{d}_zh"), ctx.field(f"{d}_en")) for d in DIRECTIONS}

    def change(policy_file: str, files: dict[str, str]) -> dict[str, str]:
        text = files[policy_file]
        current = parsed(text, policy_file)
        for d, (zh, en) in texts.items():
            old = current.refusal if d == "input" else current.output_refusal
            if (old.zh, old.en) != (zh.strip(), en.strip()):
                text = set_default_refusal(text, d, zh, en, policy_file)
        return {**files, policy_file: text}

    try:
        edit(ctx, change, "edit_default_refusals", "policy")
    except PolicyError as e:
        ctx.flash.extend(problems_text(e))
        resp = await refusals_form(ctx)
        resp.status_code = 400
        return resp
    return redirect(f"{PREFIX}/draft")
