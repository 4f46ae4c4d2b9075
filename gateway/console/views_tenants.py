"""Tenants (admins): the gateway API keys that identify each one and what it changes in the
policy. Keys are made here and shown once; the policy keeps only their SHA-256 (as
``gateway policy hash-key`` does). Like every edit, a change is a draft until another
approver publishes it, so a new key works only from then on."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

import yaml
from starlette.responses import Response

from gateway.console.changes import value_text
from gateway.console.draft import parsed, set_setting
from gateway.console.fields import field_name
from gateway.console.web import PREFIX, Ctx, Refused, redirect
from gateway.console.workspace import edit, refuse_edit, working
from gateway.policy.compiled import hash_key
from gateway.policy.loader import PolicyError, tenant_policies

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# Overrides with a form field of their own (and audit.text); the rest is in the YAML box.
FORM_KEYS = ("language", "block_response", "refusal", "output_refusal")
MAX_OVERRIDES_CHARS = 20_000


def _leaves(data: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(data, dict):
        return [leaf for k, v in data.items() for leaf in _leaves(v, (*prefix, str(k)))]
    return [(prefix, data)]


def _rest(overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides the form has no field for."""
    rest = {k: v for k, v in overrides.items() if k not in FORM_KEYS}
    if isinstance(rest.get("audit"), dict):
        rest["audit"] = {k: v for k, v in rest["audit"].items() if k != "text"}
        if not rest["audit"]:
            del rest["audit"]
    return rest


async def page(ctx: Ctx, status: int = 200, new_key: tuple[str, str] | None = None) -> Response:
    policy_file, files, draft = working(ctx)
    policy = parsed(files[policy_file], policy_file)
    tenants = []
    for name, spec in policy.tenants.items():
        overrides = [
            (field_name(path, ctx.lang), value_text(path[-1], value, ctx.lang))
            for path, value in _leaves(spec.overrides)
        ]
        rest = _rest(spec.overrides)
        tenants.append({
            "name": name, "keys": list(spec.api_keys_sha256), "overrides": overrides,
            "o": spec.overrides,
            "yaml": yaml.safe_dump(rest, allow_unicode=True, sort_keys=False) if rest else "",
        })  # fmt: skip
    return ctx.console.render(ctx, "tenants.html", status=status, tenants=tenants, draft=draft,
                              new_key=new_key)  # fmt: skip


def _name(ctx: Ctx) -> str:
    name = ctx.request.path_params.get("name") or ctx.field("name").strip()
    if not NAME.match(name) or name == "default":
        raise Refused(400, ctx.t("租户名：1 到 32 个小写字母、数字、- 或 _，且不能是 default。",
                                 "Tenant names: 1-32 lowercase letters, digits, - or _, not "
                                 "'default'."))  # fmt: skip
    return name


def _tenant_edit(ctx: Ctx, name: str, mutate: Callable[[dict[str, Any] | None], dict[str, Any] | None],
                 action: str, **detail: object) -> bool:  # fmt: skip
    """Change one tenant's entry (``mutate`` returns the new entry, None to remove it);
    the merged tenant policies are validated like a reload would."""

    def change(policy_file: str, files: dict[str, str]) -> dict[str, str]:
        text = files[policy_file]
        current = parsed(text, policy_file).tenants.get(name)
        if current is None and action != "add_tenant":
            raise ValueError(ctx.t("没有这个租户。", "No such tenant."))
        entry: dict[str, Any] | None = ({"api_keys_sha256": list(current.api_keys_sha256),
                  "overrides": dict(current.overrides)} if current else None)  # fmt: skip
        new = mutate(entry)
        if new is None:
            text = set_setting(text, ("tenants", name), None, policy_file, remove=True)
        else:
            text = set_setting(text, ("tenants", name), new, policy_file)
        tenant_policies(text, parsed(text, policy_file), policy_file)
        return {**files, policy_file: text}

    return edit(ctx, change, action, name, **detail)


async def add(ctx: Ctx) -> Response:
    name = _name(ctx)

    def create(entry: dict[str, Any] | None) -> dict[str, Any]:
        if entry is not None:
            raise ValueError(ctx.t(f"租户“{name}”已存在。", f"The tenant {name} exists."))
        return {"api_keys_sha256": [], "overrides": {}}

    try:
        _tenant_edit(ctx, name, create, "add_tenant")
    except (PolicyError, ValueError) as e:
        return await refuse_edit(ctx, e, page)
    return redirect(f"{PREFIX}/tenants#tenant-{name}")


async def new_key(ctx: Ctx) -> Response:
    """A new API key for the tenant: shown on this page once, only its hash is kept."""
    name = _name(ctx)
    key = "gw-" + secrets.token_urlsafe(32)
    digest = hash_key(key)

    def add_key(entry: dict[str, Any] | None) -> dict[str, Any]:
        assert entry is not None
        return {**entry, "api_keys_sha256": [*entry["api_keys_sha256"], digest]}

    try:
        _tenant_edit(ctx, name, add_key, "add_tenant_key", key=digest[:12])
    except (PolicyError, ValueError) as e:
        return await refuse_edit(ctx, e, page)
    return await page(ctx, new_key=(name, key))


async def revoke_key(ctx: Ctx) -> Response:
    name, digest = _name(ctx), ctx.field("digest")

    def revoke(entry: dict[str, Any] | None) -> dict[str, Any]:
        assert entry is not None
        if digest not in entry["api_keys_sha256"]:
            raise ValueError(ctx.t("这个租户没有这个密钥。", "The tenant has no such key."))
        return {**entry, "api_keys_sha256": [d for d in entry["api_keys_sha256"] if d != digest]}

    try:
        _tenant_edit(ctx, name, revoke, "revoke_tenant_key", key=digest[:12])
    except (PolicyError, ValueError) as e:
        return await refuse_edit(ctx, e, page)
    return redirect(f"{PREFIX}/tenants#tenant-{name}")


async def remove(ctx: Ctx) -> Response:
    name = _name(ctx)
    try:
        _tenant_edit(ctx, name, lambda entry: None, "remove_tenant")
    except (PolicyError, ValueError) as e:
        return await refuse_edit(ctx, e, page)
    return redirect(f"{PREFIX}/tenants")


def _from_form(ctx: Ctx, extra: dict[str, Any]) -> dict[str, Any]:
    """The overrides: the form's fields (an empty field means "as the base policy") over
    ``extra``, the YAML box."""
    out = {k: v for k, v in extra.items() if k not in FORM_KEYS}
    for key in ("language", "block_response"):
        if ctx.field(key):
            out[key] = ctx.field(key)
    for key in ("refusal", "output_refusal"):
        zh, en = ctx.field(f"{key}_zh").strip(), ctx.field(f"{key}_en").strip()
        if zh or en:
            out[key] = {"zh": zh, "en": en}
    audit = dict(out.pop("audit", None) or {}) if isinstance(out.get("audit"), dict) else {}
    audit.pop("text", None)
    if ctx.field("audit_text"):
        audit["text"] = ctx.field("audit_text")
    if audit:
        out["audit"] = audit
    return out


async def overrides(ctx: Ctx) -> Response:
    name = _name(ctx)
    raw = ctx.field("yaml")
    if len(raw) > MAX_OVERRIDES_CHARS:
        raise Refused(413, ctx.t("内容过长。", "Too long."))
    try:
        extra = yaml.safe_load(raw) if raw.strip() else {}
    except yaml.YAMLError:
        return await refuse_edit(ctx, ValueError(ctx.t(
            "其他覆盖设置的格式有误：每行“名称: 值”，下一级缩进两个空格。",
            "The other overrides are not valid YAML.")), page)  # fmt: skip
    if not isinstance(extra, dict):
        return await refuse_edit(ctx, ValueError(ctx.t(
            "其他覆盖设置应由“名称: 值”组成。", "The other overrides must be a mapping.")), page)  # fmt: skip
    new = _from_form(ctx, extra)

    def set_overrides(entry: dict[str, Any] | None) -> dict[str, Any]:
        assert entry is not None
        return {**entry, "overrides": new}

    try:
        _tenant_edit(ctx, name, set_overrides, "edit_tenant")
    except (PolicyError, ValueError) as e:
        return await refuse_edit(ctx, e, page)
    return redirect(f"{PREFIX}/tenants#tenant-{name}")
