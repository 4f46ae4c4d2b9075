"""What a draft changes, as a list in words for the approver.

An approver should not have to read a YAML diff to know what they publish. This compares
the live and the draft bundle as a compliance officer thinks of them (a category's rule per
direction, refusal texts, keywords, the allow list, each setting, tenants) and says each
difference in one line: "A1.06 色情 · 输入：拦截（阈值 0.25）→ 审核（阈值 0.5）",
"新增关键词 代写毕业论文 → A3.02 三级". The YAML diff stays one click away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway import taxonomy
from gateway.console.draft import parsed
from gateway.console.fields import field_name
from gateway.console.labels import word
from gateway.console.wordfiles import allow_entries, library
from gateway.policy.loader import PolicyError
from gateway.policy.model import DirectionRule, Localized, Policy

DIRECTIONS = ("input", "output")
MAX_TERMS_LISTED = 30  # a bulk import lists this many terms, then a count
# Settings compared leaf by leaf; categories, defaults, refusals, lexicon files and tenants
# have their own wording below.
_SECTIONS = ("name", "description", "language", "block_response", "fail_mode", "pii", "stream",
             "limits", "routes", "labels", "sanctions", "audit", "reports")  # fmt: skip
_LEXICON_KEYS = ("normalize", "variants", "terms")
_VALUE_TABLES = {"action": "action", "input_action": "action", "output_action": "action",
                 "text": "text_mode", "review_text": "review_text", "fail_mode": "fail_mode",
                 "holdback": "holdback", "classifier_gate": "gate", "kinds": "pii"}  # fmt: skip
_WORDS = {"zh": ("中文", "Chinese"), "en": ("英文", "English"),
          "completion": ("返回拒答回答", "a refusal answer"), "error": ("返回错误", "an error"),
          "start": ("开头", "start"), "end": ("结尾", "end")}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Change:
    """One difference, in both languages; ``category`` is its taxonomy code, if any."""

    kind: str  # rule, refusal, term_added, term_removed, term_level, allow_added, ...
    zh: str
    en: str
    category: str = ""
    # An English text that changed, shown after the Chinese sentence as it is (it is the
    # policy's own wording, not the console's), e.g. an English refusal text.
    foreign: str = ""

    def text(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


def _cat(code: str, lang: str) -> str:
    c = taxonomy.categories().get(code)
    if c is None:
        return code
    return f"{code} {c.name_en if lang == 'en' else c.name_zh}"


def rule_text(rule: DirectionRule, lang: str) -> str:
    """``拦截（阈值 0.25，审核 ≥ 0.2）`` or ``关闭``."""
    if not rule.enabled:
        return "off" if lang == "en" else "关闭"
    parts = [("threshold " if lang == "en" else "阈值 ") + f"{rule.threshold:g}"]
    if rule.review_threshold is not None:
        parts.append(("review ≥ " if lang == "en" else "审核 ≥ ") + f"{rule.review_threshold:g}")
    if rule.flag_threshold is not None:
        parts.append(("flag ≥ " if lang == "en" else "标记 ≥ ") + f"{rule.flag_threshold:g}")
    inner = (", " if lang == "en" else "，").join(parts)
    action = word("action", rule.action.value, lang)
    return f"{action} ({inner})" if lang == "en" else f"{action}（{inner}）"


def value_text(key: str, value: Any, lang: str) -> str:
    """A setting's value in words: on/off, choices in words, lists joined, texts quoted."""
    if value is None:
        return "unset" if lang == "en" else "未设"
    if isinstance(value, bool):
        return word("bool", str(value), lang)
    if isinstance(value, (list, tuple)):
        if not value:
            return "none" if lang == "en" else "无"
        return ("、" if lang != "en" else ", ").join(value_text(key, v, lang) for v in value)
    if isinstance(value, dict):
        return ("; " if lang == "en" else "；").join(
            f"{field_name((k,), lang)} {value_text(k, v, lang)}" for k, v in value.items()
        )
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    table = _VALUE_TABLES.get(key)
    if table is not None:
        return word(table, text, lang)
    if text in _WORDS and key in ("language", "block_response", "position"):
        return _WORDS[text][1 if lang == "en" else 0]
    if isinstance(value, str):
        short = text if len(text) <= 120 else text[:117] + "…"
        return f"“{short}”" if lang != "en" else f'"{short}"'
    return text


def _both(kind: str, zh: str, en: str, category: str = "") -> Change:
    return Change(kind, zh, en, category)


def _leaves(
    a: Any, b: Any, path: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], Any, Any]]:
    """Every leaf path where ``a`` and ``b`` differ (mappings compared key by key)."""
    if a == b:
        return []
    if isinstance(a, dict) or isinstance(b, dict):
        if (not isinstance(a, dict) and a is not None) or (
            not isinstance(b, dict) and b is not None
        ):
            return [(path, a, b)]  # a value became a mapping, or the other way round
        a, b = a or {}, b or {}
        out = []
        for k in dict.fromkeys([*a, *b]):
            out += _leaves(a.get(k), b.get(k), (*path, k))
        return out
    return [(path, a, b)]


def _setting_change(path: tuple[str | int, ...], old: Any, new: Any) -> Change:
    key = str(path[-1]) if not isinstance(path[-1], int) else str(path[-2])
    en = f"{field_name(path, 'en')}: {value_text(key, old, 'en')} → {value_text(key, new, 'en')}"
    if key == "en":  # an English text of the policy: said as it is, after the Chinese
        return Change("setting", f"{field_name(path, 'zh')}：已修改", en,
                      foreign=f"{value_text(key, old, 'en')} → {value_text(key, new, 'en')}")  # fmt: skip
    return Change(
        "setting",
        f"{field_name(path, 'zh')}：{value_text(key, old, 'zh')} → {value_text(key, new, 'zh')}",
        en,
    )


def _rules(live: Policy, draft: Policy) -> list[Change]:
    out: list[Change] = []
    for d in DIRECTIONS:
        a, b = getattr(live.defaults, d), getattr(draft.defaults, d)
        if a != b:
            a, b = a or DirectionRule(), b or DirectionRule()
            out.append(_both("rule", f"未单独设置的类别 · {word('direction', d, 'zh')}："
                                     f"{rule_text(a, 'zh')} → {rule_text(b, 'zh')}",
                             f"categories without their own rule · {d}: "
                             f"{rule_text(a, 'en')} → {rule_text(b, 'en')}"))  # fmt: skip
    for code in taxonomy.codes():
        own = code in live.categories or code in draft.categories
        for d in DIRECTIONS:
            a, b = live.rule(code, d), draft.rule(code, d)
            if a == b or not own:
                continue  # a change of the defaults alone was said once above
            out.append(_both("rule", f"{_cat(code, 'zh')} · {word('direction', d, 'zh')}："
                                     f"{rule_text(a, 'zh')} → {rule_text(b, 'zh')}",
                             f"{_cat(code, 'en')} · {d}: {rule_text(a, 'en')} → "
                             f"{rule_text(b, 'en')}", code))  # fmt: skip
        ra = live.categories[code].refusal if code in live.categories else None
        rb = draft.categories[code].refusal if code in draft.categories else None
        if ra != rb:
            out += _refusal_changes(ra, rb, f"{_cat(code, 'zh')} · 拒答文本",
                                    f"{_cat(code, 'en')} · refusal", code)  # fmt: skip
    return out


def _refusal_changes(a: Localized | None, b: Localized | None, zh: str, en: str,
                     code: str = "") -> list[Change]:  # fmt: skip
    if b is None:
        return [_both("refusal", f"{zh}：删除，改用默认拒答文本", f"{en}: removed (the default applies)",
                      code)]  # fmt: skip
    out = []
    for lang_key, zh_name, en_name in (("zh", "中文", "Chinese"), ("en", "英文", "English")):
        old = getattr(a, lang_key) if a is not None else None
        new = getattr(b, lang_key)
        if old != new:
            english = f"{en} ({en_name}): {value_text('', old, 'en')} → {value_text('', new, 'en')}"
            if lang_key == "en":
                out.append(Change("refusal", f"{zh}（{zh_name}）：已修改", english, code,
                                  f"{value_text('', old, 'en')} → {value_text('', new, 'en')}"))  # fmt: skip
            else:
                out.append(_both("refusal", f"{zh}（{zh_name}）：{value_text('', old, 'zh')} → "
                                            f"{value_text('', new, 'zh')}", english, code))  # fmt: skip
    return out


def _level(level: int, lang: str) -> str:
    if lang == "en":
        return f"level {level}"
    return {1: "一级", 2: "二级", 3: "三级"}.get(level, f"{level} 级")


def _terms(live_files: dict[str, str], draft_files: dict[str, str]) -> list[Change]:
    a = {(t.text, t.category): t.level for t in library(live_files)}
    b = {(t.text, t.category): t.level for t in library(draft_files)}
    added = [k for k in b if k not in a]
    removed = [k for k in a if k not in b]
    relevelled = [k for k in b if k in a and a[k] != b[k]]
    out: list[Change] = []
    for text, code in added[:MAX_TERMS_LISTED]:
        out.append(_both("term_added", f"新增关键词 {text} → {code} {_level(b[text, code], 'zh')}",
                         f"new keyword {text} → {code} {_level(b[text, code], 'en')}", code))  # fmt: skip
    for text, code in removed[:MAX_TERMS_LISTED]:
        out.append(_both("term_removed", f"删除关键词 {text}（{code} {_level(a[text, code], 'zh')}）",
                         f"keyword removed: {text} ({code} {_level(a[text, code], 'en')})", code))  # fmt: skip
    for text, code in relevelled[:MAX_TERMS_LISTED]:
        out.append(_both("term_level", f"关键词 {text}（{code}）：{_level(a[text, code], 'zh')} → "
                                       f"{_level(b[text, code], 'zh')}",
                         f"keyword {text} ({code}): {_level(a[text, code], 'en')} → "
                         f"{_level(b[text, code], 'en')}", code))  # fmt: skip
    for kind, items in (
        ("term_added", added),
        ("term_removed", removed),
        ("term_level", relevelled),
    ):
        if len(items) > MAX_TERMS_LISTED:
            n = len(items) - MAX_TERMS_LISTED
            out.append(_both(kind, f"……另有 {n} 个关键词（见关键词库或下方文件差异）",
                             f"… and {n} more keywords (see the library or the file diff)"))  # fmt: skip
    return out


def _allow(live: tuple[dict[str, str], str], draft: tuple[dict[str, str], str]) -> list[Change]:
    a = {e.text for e in allow_entries(*live)}
    b = {e.text for e in allow_entries(*draft)}
    out = [_both("allow_added", f"白名单新增 {t}", f"allow list: added {t}") for t in sorted(b - a)]
    out += [_both("allow_removed", f"白名单删除 {t}", f"allow list: removed {t}")
            for t in sorted(a - b)]  # fmt: skip
    return out


def _tenants(live: Policy, draft: Policy) -> list[Change]:
    out: list[Change] = []
    for name in dict.fromkeys([*live.tenants, *draft.tenants]):
        a, b = live.tenants.get(name), draft.tenants.get(name)
        if a == b:
            continue
        if a is None:
            out.append(_both("tenant", f"新增租户 {name}", f"new tenant {name}"))
        if b is None:
            out.append(_both("tenant", f"删除租户 {name}", f"tenant removed: {name}"))
            continue
        keys_a = set(a.api_keys_sha256) if a is not None else set()
        added, dropped = len(set(b.api_keys_sha256) - keys_a), len(keys_a - set(b.api_keys_sha256))
        if added:
            out.append(_both("tenant", f"租户 {name}：新增 {added} 个密钥",
                             f"tenant {name}: {added} new key(s)"))  # fmt: skip
        if dropped:
            out.append(_both("tenant", f"租户 {name}：吊销 {dropped} 个密钥",
                             f"tenant {name}: {dropped} key(s) revoked"))  # fmt: skip
        over_a = a.overrides if a is not None else {}
        for path, old, new in _leaves(over_a, b.overrides, ("tenants", name, "overrides")):
            out.append(_setting_change(path, old, new))
    return out


def changes(live_files: dict[str, str], live_policy: str, draft_files: dict[str, str],
            draft_policy: str) -> list[Change] | None:  # fmt: skip
    """The draft's changes against live, in words; None when either side does not parse
    (the draft page then shows its problems and the file diff)."""
    try:
        live = parsed(live_files[live_policy], live_policy)
        draft = parsed(draft_files[draft_policy], draft_policy)
        out = _rules(live, draft)
        for key in ("refusal", "output_refusal"):
            a, b = getattr(live, key), getattr(draft, key)
            if a != b:
                out += _refusal_changes(a, b, field_name((key,), "zh"), field_name((key,), "en"))
        out += _terms(live_files, draft_files)
        out += _allow((live_files, live_policy), (draft_files, draft_policy))
        for key in _SECTIONS:
            a, b = getattr(live, key), getattr(draft, key)
            if a != b:
                dump_a = a.model_dump(mode="json") if hasattr(a, "model_dump") else a
                dump_b = b.model_dump(mode="json") if hasattr(b, "model_dump") else b
                out += [_setting_change(p, x, y) for p, x, y in _leaves(dump_a, dump_b, (key,))]
        la, lb = live.lexicon.model_dump(mode="json"), draft.lexicon.model_dump(mode="json")
        for key in _LEXICON_KEYS:
            out += [_setting_change(p, x, y)
                    for p, x, y in _leaves(la[key], lb[key], ("lexicon", key))]  # fmt: skip
        out += _tenants(live, draft)
    except PolicyError:
        return None
    return out
