"""Shadow runs in the console: start the draft beside the live policy on live traffic,
watch the difference (per category, with examples and the latency cost), then publish or
discard from the same page.

The runner itself (``gateway.shadow``) lives on the app state; this module starts it with
the compiled draft and keeps what it observes in the console database, apart from the
decision log: the decisions of every checked request, and the text of changed ones as
``audit.review_text`` allows (the examples an approver reads), which is deleted when the
draft is published or discarded and 30 days after a run ends.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from starlette.responses import Response

from gateway import taxonomy
from gateway.audit.record import TextRetention, keep_text
from gateway.classifier import Classifier
from gateway.console.draft import bundle_problems
from gateway.console.problems import explain_all
from gateway.console.publish import PublishRefused, bundle_key, check_may_publish
from gateway.console.shadow_report import GROUPS, build
from gateway.console.shadow_store import ShadowRow, ShadowRun
from gateway.console.web import PREFIX, Ctx, Refused, redirect
from gateway.metrics import Metrics
from gateway.policy.loader import PolicyError
from gateway.shadow import Observation, RunCounts, ShadowPlan
from gateway.shadow.runner import DEFAULT_RATE

MAX_CHECKS = 10_000
MAX_HOURS = 168.0
MAX_RATE = 1000.0
EXAMPLE_TEXTS = 200  # changed requests per run whose text is kept
TEXT_DAYS = 30  # example texts of a run are deleted this long after it ended
ENDED = ("done", "stopped", "stale", "interrupted")


def _number(ctx: Ctx, name: str, default: str, low: float, high: float) -> float:
    try:
        value = float(ctx.field(name, default) or default)
    except ValueError:
        raise Refused(400, ctx.t(f"“{name}”必须是数字。", f"{name} must be a number.")) from None
    if not low <= value <= high:
        raise Refused(400, ctx.t(f"取值须在 {low:g} 到 {high:g} 之间。",
                                 f"{name} must be between {low:g} and {high:g}."))  # fmt: skip
    return value


def _load_candidate(ctx: Ctx) -> Any:
    settings = ctx.state.settings

    def load(spec: str) -> Classifier:
        models = importlib.import_module("models")
        loaded: Classifier = models.load_classifier(
            spec, device=settings.classifier_device, metrics=Metrics()
        )
        return loaded

    return load


def _sink(ctx: Ctx, run_id: int) -> Any:
    db, policies = ctx.db, ctx.state.policies
    kept = [db.shadow.texts_kept(run_id)]

    def sink(batch: list[Observation]) -> None:
        rows = []
        for o in batch:
            text = None
            if o.changed and kept[0] < EXAMPLE_TEXTS:
                mode = policies.current.for_tenant(o.tenant).policy.audit.review_text
                if mode != "none":
                    text = keep_text("\n".join(o.texts), TextRetention(mode),
                                     "\n".join(o.live.redacted) if o.live.redacted else None)  # fmt: skip
                    kept[0] += text is not None
            rows.append(ShadowRow(time.time(), o.direction.value, o.tenant, o.live.action.value,
                                  o.live.categories, o.draft.action.value, o.draft.categories,
                                  o.live_ms, o.draft_ms, o.changed, text))  # fmt: skip
        db.shadow.add_rows(run_id, rows)

    return sink


def _on_end(ctx: Ctx) -> Any:
    db = ctx.db

    def on_end(run_id: int, state: str, c: RunCounts) -> None:
        db.shadow.end_run(run_id, state, c.sampled, c.dropped, c.evaluated, c.errors)

    return on_end


async def start(ctx: Ctx) -> Response:
    draft = ctx.db.draft()
    if draft is None:
        raise Refused(409, ctx.t("没有草稿，无法进行影子运行。", "There is no draft to shadow."))
    try:
        compiled = await ctx.console.compiler.compile(draft.files, draft.policy)
    except PolicyError as e:
        raise Refused(400, "；".join(explain_all(bundle_problems(e), ctx.lang))) from None
    share = _number(ctx, "percent", "100", 1, 100) / 100
    target = int(_number(ctx, "checks", "200", 1, MAX_CHECKS))
    hours = _number(ctx, "hours", "24", 0.01, MAX_HOURS)
    rate = _number(ctx, "rate", f"{DEFAULT_RATE:g}", 1, MAX_RATE)
    spec = ctx.field("classifier")
    candidates = ctx.state.settings.shadow_classifiers
    if spec and spec not in candidates:
        raise Refused(
            400, ctx.t("未配置这个候选分类器。", "That candidate classifier is not configured.")
        )
    shadow = ctx.state.shadow
    candidate = None
    if spec:
        try:
            candidate = await shadow.candidate(spec, _load_candidate(ctx))
        except Exception as e:  # a model that does not load: say so, start nothing
            raise Refused(400, ctx.t(f"候选分类器无法加载：{type(e).__name__}",
                                     f"The candidate classifier did not load: {e}")) from None  # fmt: skip
    live = ctx.state.policies
    run_id = ctx.db.shadow.add_run(ctx.user.name, bundle_key(draft.files), compiled.version,
                                   live.current.version, share, target, hours * 3600, spec,
                                   rate)  # fmt: skip
    shadow.start(ShadowPlan(run_id, compiled, share, target, hours * 3600, candidate, rate),
                 live.get, _sink(ctx, run_id), _on_end(ctx))  # fmt: skip
    ctx.db.log(ctx.user.name, "shadow_start", f"run {run_id}", ctx.field("reason"),
               share=share, requests=target, hours=hours)  # fmt: skip
    return redirect(f"{PREFIX}/shadow?run={run_id}")


async def stop(ctx: Ctx) -> Response:
    plan = ctx.state.shadow.plan
    if plan is None or not ctx.state.shadow.stop(plan.run_id):
        raise Refused(409, ctx.t("没有正在进行的影子运行。", "No shadow run is running."))
    ctx.db.log(ctx.user.name, "shadow_stop", f"run {plan.run_id}", ctx.field("reason"))
    return redirect(f"{PREFIX}/shadow?run={plan.run_id}")


def finish(ctx: Ctx, draft_files: dict[str, str] | None, state: str) -> None:
    """The draft was published, discarded or changed: the running run stops, and runs of
    that draft take its fate (their example texts are deleted once it is decided)."""
    shadow = ctx.state.shadow
    if shadow.plan is not None:
        shadow.stop(shadow.plan.run_id, "stale" if state == "stale" else "stopped")
    if draft_files is None or state == "stale":
        return
    key = bundle_key(draft_files)
    for run in ctx.db.shadow.runs():
        if run.draft_key == key and run.state in (*ENDED, "running"):
            ctx.db.shadow.set_state(run.id, state)
            ctx.db.shadow.forget_texts(run.id)


def _current(ctx: Ctx, run: ShadowRun) -> ShadowRun:
    """A run the database calls running but this process is not running ended with the
    process (a restart): say so."""
    plan = ctx.state.shadow.plan
    if run.state == "running" and (plan is None or plan.run_id != run.id):
        ctx.db.shadow.end_run(run.id, "interrupted", run.sampled, run.dropped, run.evaluated,
                              run.errors)  # fmt: skip
        found = ctx.db.shadow.run(run.id)
        assert found is not None
        return found
    return run


async def page(ctx: Ctx) -> Response:
    ctx.db.shadow.forget_texts(before=time.time() - TEXT_DAYS * 86400)
    q = ctx.request.query_params
    runs = ctx.db.shadow.runs()
    run = None
    if q.get("run"):
        try:
            run = ctx.db.shadow.run(int(q["run"]))
        except ValueError:
            run = None
        if run is None:
            raise Refused(404, ctx.t("没有这次影子运行。", "No such shadow run."))
    elif runs:
        run = runs[0]
    draft = ctx.db.draft()
    values: dict[str, Any] = {"runs": runs, "run": None, "draft": draft, "groups": GROUPS,
                              "default_rate": DEFAULT_RATE,
                              "categories": taxonomy.categories(),
                              "candidates": ctx.state.settings.shadow_classifiers}  # fmt: skip
    if run is not None:
        run = _current(ctx, run)
        counts = ctx.state.shadow.counts if run.state == "running" else None
        category = q.get("category", "")
        report = build(ctx.db.shadow.rows(run.id), category if taxonomy.is_code(category) else "")
        same_draft = draft is not None and bundle_key(draft.files) == run.draft_key
        try:
            may_publish = same_draft and bool(check_may_publish(draft, ctx.user))
            why_not = "" if same_draft else ctx.t(
                "草稿在这次影子运行之后又修改过：请为当前草稿重新运行。",
                "The draft changed after this run: run it again for the current draft.")  # fmt: skip
        except PublishRefused as e:
            may_publish, why_not = False, ctx.t(e.zh, e.en)
        values.update(run=run, counts=counts, report=report, category=category,
                      same_draft=same_draft, may_publish=may_publish, why_not=why_not,
                      live_version=ctx.state.policies.current.version)  # fmt: skip
    return ctx.console.render(ctx, "shadow.html", **values)
