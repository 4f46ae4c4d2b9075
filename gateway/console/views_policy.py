"""Policy editing: the category table, one category's form, the draft (diff, validate,
publish, discard) and the version history (restore)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from gateway import taxonomy
from gateway.console import views_shadow
from gateway.console.changes import changes
from gateway.console.db import Draft
from gateway.console.draft import (
    RuleEdit,
    bundle_problems,
    diff,
    parsed,
    set_default_refusal,
    set_refusal,
    set_rule,
)
from gateway.console.problems import explain_all
from gateway.console.publish import PublishRefused, bundle_key, check_may_publish, publish
from gateway.console.web import PREFIX, Ctx, Refused, redirect
from gateway.console.workspace import edit, live_bundle, refuse_edit, working
from gateway.decision import Action
from gateway.policy.loader import PolicyError
from gateway.policy.model import DirectionRule, Localized, Policy
from gateway.shadow.runner import DEFAULT_RATE

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
        raise Refused(404, ctx.t("没有这个类别。", "unknown category"))
    policy_file, files, draft = working(ctx)
    policy = parsed(files[policy_file], policy_file)
    return ctx.console.render(
        ctx, "category.html", cat=taxonomy.categories()[code],
        rules={d: policy.rule(code, d) for d in DIRECTIONS},
        refusal=_refusal(policy, code), actions=[a.value for a in Action],
        draft=draft, errors=[],
    )  # fmt: skip


_FIELD_NAMES = {"threshold": ("阈值", "threshold"), "review_threshold": ("审核阈值", "review threshold"),
                "flag_threshold": ("标记阈值", "flag threshold")}  # fmt: skip


def _float(ctx: Ctx, d: str, name: str, optional: bool) -> float | None:
    raw = ctx.field(f"{d}_{name}").strip()
    if not raw and optional:
        return None
    where = ctx.t(f"{'输入' if d == 'input' else '输出'} · {_FIELD_NAMES[name][0]}",
                  f"{d} · {_FIELD_NAMES[name][1]}")  # fmt: skip
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(ctx.t(f"{where}：必须是 0 到 1 之间的数字（现在是「{raw}」）。",
                               f"{where}: must be a number from 0 to 1, not {raw!r}.")) from None  # fmt: skip
    if not 0.0 <= value <= 1.0:
        raise ValueError(ctx.t(f"{where}：必须在 0 到 1 之间（现在是 {raw}）。",
                               f"{where}: must be between 0 and 1, not {raw}."))  # fmt: skip
    return value


def _rule(ctx: Ctx, d: str) -> RuleEdit:
    action = ctx.field(f"{d}_action")
    if action not in {a.value for a in Action}:
        raise ValueError(ctx.t("请选择动作。", f"{d}: unknown action {action!r}"))
    threshold = _float(ctx, d, "threshold", optional=False)
    assert threshold is not None
    return RuleEdit(
        enabled=ctx.field(f"{d}_enabled") == "on", action=Action(action), threshold=threshold,
        review_threshold=_float(ctx, d, "review_threshold", optional=True),
        flag_threshold=_float(ctx, d, "flag_threshold", optional=True),
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
        return await refuse_edit(ctx, e, category_form)
    return redirect(f"{PREFIX}/draft")


async def draft_page(ctx: Ctx) -> Response:
    draft = ctx.db.draft()
    problems: list[str] = []
    diffs = []
    version = ""
    listed = None
    shadow_runs = []
    if draft is not None:
        live_policy, live = live_bundle(ctx.state.policies)
        diffs = diff(live, draft.files)
        listed = changes(live, live_policy, draft.files, draft.policy)
        try:
            version = (await ctx.console.compiler.compile(draft.files, draft.policy)).version
        except PolicyError as e:
            problems = explain_all(bundle_problems(e), ctx.lang)
        key = bundle_key(draft.files)
        shadow_runs = [r for r in ctx.db.shadow.runs(5) if r.draft_key == key]
    try:
        may_publish = draft is not None and bool(check_may_publish(draft, ctx.user))
        why_not = ""
    except PublishRefused as e:
        may_publish, why_not = False, ctx.t(e.zh, e.en)
    return ctx.console.render(
        ctx, "draft.html", draft=draft, diffs=diffs, problems=problems, version=version,
        live_version=ctx.state.policies.current.version, may_publish=may_publish,
        why_not=why_not, changes=listed, shadow_runs=shadow_runs,
        shadow_running=ctx.state.shadow.plan is not None,
        candidates=ctx.state.settings.shadow_classifiers, default_rate=DEFAULT_RATE,
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
        raise Refused(400, "；".join(explain_all(bundle_problems(e), ctx.lang))) from None
    views_shadow.finish(ctx, draft.files if draft else None, "published")
    ctx.db.log(ctx.user.name, "publish", f"version {done.version_id}", note,
               policy_version=done.policy_version, live=done.live,
               authors=list(draft.authors) if draft else [])  # fmt: skip
    return redirect(f"{PREFIX}/versions")


async def discard_draft(ctx: Ctx) -> Response:
    draft = ctx.db.draft()
    ctx.db.drop_draft()
    views_shadow.finish(ctx, draft.files if draft else None, "discarded")
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
        raise Refused(404, ctx.t("没有这个版本。", "no such version"))
    views_shadow.finish(ctx, None, "stale")
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
        return await refuse_edit(ctx, e, refusals_form)
    return redirect(f"{PREFIX}/draft")
