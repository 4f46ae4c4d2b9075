"""Validator problems in the reader's language, naming the category and field and saying
how to fix it.

``gateway policy check`` prints ``default.yaml:50: categories.A1.08.input:
review_threshold and flag_threshold must not exceed threshold``; the console says
"第 50 行 · 类别 A1.08 …… · 输入：审核阈值（0.9）不能高于阈值（0.8）。请调低审核阈值，或调高阈值。"
The translation works from the problem's structure (key path, error kind and values, see
``gateway.policy.loader.Problem``), never by matching English text, except for the few
term-file row messages that only exist as text.
"""

from __future__ import annotations

import re

from gateway.console.fields import field_name
from gateway.console.labels import word
from gateway.policy.loader import Problem

_OPTION_TABLES = {"action": "action", "input_action": "action", "output_action": "action",
                  "text": "text_mode", "review_text": "review_text", "fail_mode": "fail_mode",
                  "holdback": "holdback", "kinds": "pii"}  # fmt: skip
_OPTION_WORDS = {"zh": ("中文", "Chinese"), "en": ("英文", "English"),
                 "completion": ("返回拒答回答", "a refusal answer"),
                 "error": ("返回错误", "an error"), "start": ("开头", "start"),
                 "end": ("结尾", "end")}  # fmt: skip


def _options(p: Problem, lang: str) -> str:
    """The allowed values of a choice, in words."""
    raw = re.findall(r"'([^']*)'", p.value("expected"))
    field = str(p.loc[-1]) if p.loc else ""
    table = _OPTION_TABLES.get(field if not isinstance(p.loc[-1] if p.loc else "", int)
                               else str(p.loc[-2]))  # fmt: skip
    out = []
    for value in raw:
        if table is not None:
            out.append(word(table, value, lang))
        elif value in _OPTION_WORDS:
            out.append(_OPTION_WORDS[value][1 if lang == "en" else 0])
        else:
            out.append(value)
    return "、".join(out) if lang != "en" else ", ".join(out)


def _given(p: Problem, lang: str) -> str:
    value = p.value("input")
    field = str(p.loc[-1]) if p.loc else ""
    table = _OPTION_TABLES.get(field)
    return word(table, value, lang) if table is not None else value


_ROW = [
    (re.compile(r"header must be 'term,category,level'.*"),
     ("表头应为 term,category,level（关键词、类别代码、级别）", "the header must be term,category,level")),
    (re.compile(r"expected term,category\[,level\], got (\d+) columns"),
     ("每行应有 2 到 3 列（关键词、类别代码、级别），这一行有 {0} 列", "a row has 2 or 3 columns; this one has {0}")),
    (re.compile(r"empty term"), ("关键词为空", "the term is empty")),
    (re.compile(r"unknown category '([^']*)'.*"),
     ("未知的类别代码「{0}」，应为 A1.04 这样的代码", "unknown category {0}; use a code like A1.04")),
    (re.compile(r"level must be an integer, got '([^']*)'"),
     ("级别应为 1、2 或 3，这一行是「{0}」", "the level must be 1, 2 or 3, not {0}")),
    (re.compile(r"level must be >= 1, got (-?\d+)"),
     ("级别应为 1、2 或 3，这一行是「{0}」", "the level must be 1, 2 or 3, not {0}")),
]  # fmt: skip


def _term_row(p: Problem, lang: str) -> str:
    message = p.value("message") or p.message
    for pattern, (zh, en) in _ROW:
        m = pattern.fullmatch(message)
        if m is not None:
            return (en if lang == "en" else zh).format(*m.groups())
    return message


def explain(p: Problem, lang: str = "zh", *, place: bool = True) -> str:
    """One problem as a sentence: where (file and line unless ``place`` is false, category,
    field), what, and how to fix it."""
    en = lang == "en"
    where = field_name(p.loc, lang) if p.loc else ""
    v = p.value
    kind = p.kind
    if kind == "extra_forbidden":
        key = str(p.loc[-1])
        under = field_name(p.loc[:-1], lang)
        text = (f"unknown setting '{key}'" + (f" under {under}" if under else "")
                + ". Check the spelling or remove it.") if en else (
            f"未知的设置项「{key}」" + (f"（位于 {under}）" if under else "")
            + "。请检查拼写，或删除这一项。")  # fmt: skip
    elif kind in ("literal_error", "enum"):
        text = (f"{where}: '{_given(p, lang)}' is not one of: {_options(p, lang)}." if en else
                f"{where}：「{_given(p, lang)}」不是可选的值，可选：{_options(p, lang)}。")  # fmt: skip
    elif kind == "missing":
        text = f"{where}: required." if en else f"{where}：缺少这一项，请填写。"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": ("≥", "ge"), "greater_than": (">", "gt"),
                 "less_than_equal": ("≤", "le"), "less_than": ("<", "lt")}[kind]  # fmt: skip
        limit = v(bound[1])
        text = (f"{where}: must be {bound[0]} {limit} (is {v('input')})." if en else
                f"{where}：必须 {bound[0]} {limit}（现在是 {v('input')}）。")  # fmt: skip
    elif kind in ("float_parsing", "int_parsing", "float_type", "int_type", "int_from_float"):
        text = (f"{where}: must be a number (is '{v('input')}')." if en else
                f"{where}：必须是数字（现在是「{v('input')}」）。")  # fmt: skip
    elif kind in ("bool_parsing", "bool_type"):
        text = f"{where}: must be on or off." if en else f"{where}：只能是开或关。"
    elif kind == "string_too_short":
        text = f"{where}: must not be empty." if en else f"{where}：不能为空。"
    elif kind == "string_too_long":
        text = (f"{where}: at most {v('max_length')} characters." if en else
                f"{where}：太长，最多 {v('max_length')} 个字符。")  # fmt: skip
    elif kind == "string_pattern_mismatch":
        text = f"{where}: wrong format." if en else f"{where}：格式不对。"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        text = (f"{where}: must be a group of settings." if en else
                f"{where}：应是一组设置（每行“名称: 值”）。")  # fmt: skip
    elif kind in ("list_type", "tuple_type"):
        text = f"{where}: must be a list." if en else f"{where}：应是一个列表。"
    elif kind == "string_type":
        text = f"{where}: must be text." if en else f"{where}：应是文字。"
    elif kind == "threshold_order":
        given = "，".join(f"{name} {v(key)}" for name, key in
                         (("阈值", "threshold"), ("审核阈值", "review_threshold"),
                          ("标记阈值", "flag_threshold")) if v(key) not in ("", "None"))  # fmt: skip
        text = (f"{where}: the review and flag thresholds must not exceed the threshold "
                f"({v('threshold')}). Lower them, or raise the threshold." if en else
                f"{where}：审核阈值和标记阈值不能高于阈值（{given}）。"
                "请调低审核阈值或标记阈值，或调高阈值。")  # fmt: skip
    elif kind == "flag_over_review":
        text = (f"{where}: the flag threshold must not exceed the review threshold." if en else
                f"{where}：标记阈值（{v('flag_threshold')}）不能高于审核阈值"
                f"（{v('review_threshold')}）。请调低标记阈值，或调高审核阈值。")  # fmt: skip
    elif kind == "unknown_code":
        text = (f"{where}: unknown category code(s) {v('codes')}; the codes are those of "
                "TC260-003 Annex A, e.g. A1.04." if en else
                f"{where}：未知的类别代码 {v('codes')}。类别代码见 TC260-003 附录 A，例如 A1.04。")  # fmt: skip
    elif kind in ("route_format", "route_carries_text"):
        text = (f"{where}: {p.message.split(': ', 1)[-1]}" if en else
                f"{where}：{v('entry')} " + ("格式应为“方法 /v1/路径”。" if kind == "route_format"
                                             else "会带有提示词或生成内容，不能不经审核直通。"))  # fmt: skip
    elif kind == "key_digest":
        text = (f"{where}: each key must be a SHA-256 digest; make keys on the Tenants page."
                if en else f"{where}：每个密钥都应是 64 位的 SHA-256 摘要。请在“租户”页面生成"
                "密钥，不要手工填写。")  # fmt: skip
    elif kind == "shared_key":
        text = (f"tenants {v('other')} and {v('tenant')} share a key; revoke it from one." if en
                else f"租户「{v('other')}」和「{v('tenant')}」使用了同一个密钥，请吊销其中一个。")  # fmt: skip
    elif kind == "nested_tenants":
        text = (f"{where}: a tenant's overrides cannot define tenants." if en else
                f"{where}：租户的覆盖设置里不能再定义租户。")  # fmt: skip
    elif kind == "duplicate_reason":
        text = (f"{where}: duplicate reason codes {v('codes')}." if en else
                f"{where}：举报原因代码重复：{v('codes')}。")  # fmt: skip
    elif kind == "reason_other_missing":
        text = (f"{where}: keep the reason 'other'." if en else
                f"{where}：必须保留“其他”（other）这一举报原因。")  # fmt: skip
    elif kind == "duplicate_key":
        text = (f"'{p.loc[-1]}' appears twice; remove one." if en else
                f"设置项「{p.loc[-1]}」出现了两次，请删除其中一个。")  # fmt: skip
    elif kind == "yaml":
        text = (f"the file is not valid YAML ({v('problem')}); check indentation, colons and "
                "brackets on this line." if en else
                "文件格式有误，请检查这一行的缩进、冒号和括号。")  # fmt: skip
    elif kind == "not_mapping":
        text = ("the policy must be a list of settings (name: value)." if en else
                "策略文件应由“名称: 值”的设置项组成。")  # fmt: skip
    elif kind == "no_match":
        text = (f"the term-file pattern {v('pattern')} matches no file." if en else
                f"关键词文件「{v('pattern')}」没有匹配到任何文件。")  # fmt: skip
    elif kind in ("lexicon_file", "read"):
        text = (f"cannot read the file {v('path') or p.file}." if en else
                f"无法读取文件 {v('path') or p.file}。")  # fmt: skip
    elif kind == "term_file":
        text = _term_row(p, lang) + ("." if en else "。")
    elif kind == "inline_term":
        text = ("an inline term must read term|CODE|level." if en else
                "策略内的关键词应写成“关键词|类别代码|级别”。")  # fmt: skip
    else:
        text = (f"{where}: invalid value." if en else f"{where}：取值无效。") if where else (
            "invalid." if en else "无效。")  # fmt: skip
    return f"{_place(p, lang) if place else ''}{text}"


def _place(p: Problem, lang: str) -> str:
    file = p.file.rsplit("/", 1)[-1] if p.kind != "term_file" else p.file
    if lang == "en":
        return f"{file}, line {p.line}: "
    return f"{file} 第 {p.line} 行 · "


def explain_all(problems: list[Problem], lang: str = "zh", *, place: bool = True) -> list[str]:
    return [explain(p, lang, place=place) for p in problems]
