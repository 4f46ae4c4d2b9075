"""Settings beyond the category table, as forms: what the decision log keeps (admins), the
personal-data detectors, streaming, user sanctions, and the allow list. Every save goes to
the draft like any other edit (validated, only changed values written, four eyes to
publish); tenants have their own page (``views_tenants``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from gateway.console.db import Role
from gateway.console.draft import parsed, set_setting
from gateway.console.web import PREFIX, Ctx, Refused, redirect
from gateway.console.wordfiles import add_allow, allow_entries, check_allow, remove_allow
from gateway.console.workspace import edit, refuse_edit, working
from gateway.decision import Action
from gateway.policy.loader import PolicyError
from gateway.policy.model import PiiSpec, SanctionSpec, StreamSpec

SECTIONS = ("audit", "pii", "stream", "sanctions")
PII_KINDS = ("cn_id", "cn_mobile", "bank_card", "email")


async def page(ctx: Ctx, status: int = 200) -> Response:
    policy_file, files, draft = working(ctx)
    policy = parsed(files[policy_file], policy_file)
    return ctx.console.render(
        ctx, "settings.html", status=status, policy=policy, draft=draft,
        actions=[a.value for a in Action], pii_kinds=PII_KINDS,
        allow=allow_entries(files, policy_file),
    )  # fmt: skip


def _int(ctx: Ctx, name: str, optional: bool = False) -> int | None:
    raw = ctx.field(name).strip()
    if not raw and optional:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(ctx.t(f"“{_LABELS.get(name, name)}”必须是整数。",
                               f"{name} must be a whole number.")) from None  # fmt: skip


_LABELS = {
    "check_every_chars": "每新增多少字检查一次", "extra_holdback_chars": "额外保留字数",
    "classifier_window_chars": "分类器窗口字数", "suspend_seconds": "暂停时长",
    "classifier_min_chars": "分类器最少汉字数", "classifier_min_chars_latin": "分类器最少字数（任意字符）",
    "consecutive_suspend": "连续违规几次即暂停",
}  # fmt: skip


def _window(ctx: Ctx, name: str) -> dict[str, int] | None:
    count, seconds = _int(ctx, f"{name}_count", True), _int(ctx, f"{name}_seconds", True)
    if count is None and seconds is None:
        return None
    return {"count": count or 0, "seconds": seconds or 0}


def _localized(ctx: Ctx, name: str) -> dict[str, str]:
    return {"zh": ctx.field(f"{name}_zh").strip(), "en": ctx.field(f"{name}_en").strip()}


def _audit(ctx: Ctx) -> dict[str, Any]:
    return {"text": ctx.field("text"), "review_text": ctx.field("review_text"),
            "fail_open": ctx.field("fail_open") == "on"}  # fmt: skip


def _pii(ctx: Ctx) -> dict[str, Any]:
    kinds = ctx.form.getlist("kinds") if ctx.form is not None else []
    return {"enabled": ctx.field("enabled") == "on",
            "kinds": [k for k in PII_KINDS if k in kinds],
            "input_action": ctx.field("input_action"), "output_action": ctx.field("output_action"),
            "mask": ctx.field("mask")}  # fmt: skip


def _stream(ctx: Ctx) -> dict[str, Any]:
    return {"holdback": ctx.field("holdback"),
            "check_every_chars": _int(ctx, "check_every_chars"),
            "check_on_punctuation": ctx.field("check_on_punctuation") == "on",
            "extra_holdback_chars": _int(ctx, "extra_holdback_chars"),
            "classifier_window_chars": _int(ctx, "classifier_window_chars"),
            "classifier_min_chars": _int(ctx, "classifier_min_chars"),
            "classifier_min_chars_latin": _int(ctx, "classifier_min_chars_latin"),
            "classifier_gate": ctx.field("classifier_gate")}  # fmt: skip


def _sanctions(ctx: Ctx) -> dict[str, Any]:
    return {"enabled": ctx.field("enabled") == "on",
            "warn_after": _window(ctx, "warn_after"),
            "restrict_after": _window(ctx, "restrict_after"),
            "suspend_after": _window(ctx, "suspend_after"),
            "consecutive_suspend": _int(ctx, "consecutive_suspend", True),
            "suspend_seconds": _int(ctx, "suspend_seconds"),
            "message": _localized(ctx, "message"),
            "restricted_message": _localized(ctx, "restricted_message")}  # fmt: skip


FORMS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "audit": _audit, "pii": _pii, "stream": _stream, "sanctions": _sanctions,
}  # fmt: skip
DEFAULTS: dict[str, Any] = {
    "pii": PiiSpec().model_dump(mode="json"), "stream": StreamSpec().model_dump(mode="json"),
    "sanctions": SanctionSpec().model_dump(mode="json"),
}  # fmt: skip


def section_change(
    section: str, values: dict[str, Any]
) -> Callable[[str, dict[str, str]], dict[str, str]]:
    """An edit that writes the values of one section that differ from the policy's, one
    key at a time, so the file keeps everything else as it was."""

    def change(policy_file: str, files: dict[str, str]) -> dict[str, str]:
        text = files[policy_file]
        current = getattr(parsed(text, policy_file), section).model_dump(mode="json")
        for key, value in values.items():
            if current.get(key) != value:
                text = set_setting(text, (section, key), value, policy_file)
        return {**files, policy_file: text}

    return change


async def save(ctx: Ctx) -> Response:
    section = ctx.request.path_params["section"]
    if section not in FORMS:
        raise Refused(404, ctx.t("没有这一组设置。", "No such settings section."))
    if section == "audit" and not ctx.user.role.at_least(Role.ADMIN):
        # What the log keeps of users' texts is a data-protection decision (Art. 11).
        raise Refused(403, ctx.t("只有管理员可以修改日志保存的文本。",
                                 "Only an admin can change what the log keeps."))  # fmt: skip
    try:
        values = FORMS[section](ctx)
        edit(ctx, section_change(section, values), "edit_settings", section,
             section=section)  # fmt: skip
    except (PolicyError, ValueError) as e:
        return await refuse_edit(ctx, e, page)
    return redirect(f"{PREFIX}/draft")


async def allow_add(ctx: Ctx) -> Response:
    added: list[str] = []
    try:
        entry = check_allow(ctx.field("entry"))

        def change(policy: str, files: dict[str, str]) -> dict[str, str]:
            nonlocal added
            out, added = add_allow(files, policy, [entry])
            if not added:
                raise ValueError(ctx.t(f"白名单中已有“{entry}”，没有修改。",
                                       f"“{entry}” is already on the allow list; nothing changed."))  # fmt: skip
            return out

        edit(ctx, change, "add_allow", entry)
    except (PolicyError, ValueError) as e:
        return await refuse_edit(ctx, e, page)
    return redirect(f"{PREFIX}/settings#allow")


async def allow_remove(ctx: Ctx) -> Response:
    entry = ctx.field("entry")

    def change(policy: str, files: dict[str, str]) -> dict[str, str]:
        out, removed = remove_allow(files, policy, entry)
        if not removed:
            raise ValueError(ctx.t("白名单中没有这一条。", "No such allow-list entry."))
        return out

    try:
        edit(ctx, change, "remove_allow", entry)
    except (PolicyError, ValueError) as e:
        return await refuse_edit(ctx, e, page)
    return redirect(f"{PREFIX}/settings#allow")
