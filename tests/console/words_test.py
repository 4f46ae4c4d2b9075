"""What compliance staff read: edits that change only what was edited, the change list in
words, validator problems in Chinese, and the vocabulary tables (pure functions)."""

from __future__ import annotations

import difflib

import pytest

from gateway.console import yaml_edit
from gateway.console.changes import changes
from gateway.console.draft import RuleEdit, set_default_refusal, set_refusal, set_rule, set_setting
from gateway.console.labels import article, reason_detail, source, word
from gateway.console.problems import explain
from gateway.console.wordfiles import add_allow, add_terms, check_term, remove_allow
from gateway.decision import Action
from gateway.policy.loader import PolicyError, Problem, parse_policy
from tests.support.paths import TEST_LEXICON, TEST_POLICY

BLOCK_STYLE = """\
# top comment
name: t
categories:
  A1.04:
    input: {action: block, threshold: 0.5}   # calibrated
    refusal:
      zh: 抱歉，我不能提供任何与恐怖主义相关的帮助。
      en: Sorry, I can't help with terrorism.
  A1.08: {input: {action: block, threshold: 0.725}, output: {action: block}}
audit:
  text: hash                 # none | hash | redacted | full
reports:
  process:
    zh: |
      第一步
      第二步
    en: step one
"""


def _changed_lines(a: str, b: str) -> list[str]:
    return [line for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # One number in a flow mapping: that number, nothing else on the line.
        (("categories", "A1.08", "input", "threshold"), 0.5,
         ["-  A1.08: {input: {action: block, threshold: 0.725}, output: {action: block}}",
          "+  A1.08: {input: {action: block, threshold: 0.5}, output: {action: block}}"]),
        # A new key joins its flow mapping.
        (("categories", "A1.08", "output", "review_threshold"), 0.6,
         ["-  A1.08: {input: {action: block, threshold: 0.725}, output: {action: block}}",
          "+  A1.08: {input: {action: block, threshold: 0.725}, output: {action: block, review_threshold: 0.6}}"]),
        # A value with a comment after it: the comment keeps its column.
        (("categories", "A1.04", "input", "threshold"), 0.55,
         ["-    input: {action: block, threshold: 0.5}   # calibrated",
          "+    input: {action: block, threshold: 0.55}  # calibrated"]),
        (("audit", "text"), "redacted",
         ["-  text: hash                 # none | hash | redacted | full",
          "+  text: redacted             # none | hash | redacted | full"]),
        # A block-mapping key is added on its own line after its siblings.
        (("audit", "review_text"), "full", ["+  review_text: full"]),
        # The Chinese refusal changes; the English one, with its apostrophe, stays as written.
        (("categories", "A1.04", "refusal", "zh"), "不行。",
         ["-      zh: 抱歉，我不能提供任何与恐怖主义相关的帮助。", "+      zh: 不行。"]),
        # A block scalar stays a block scalar.
        (("reports", "process", "zh"), "第一步\n第三步\n", ["-      第二步", "+      第三步"]),
        # A new category is inserted where categories end, comments untouched.
        (("categories", "A3.05"), {"input": {"action": "flag", "threshold": 0.5}},
         ["+  A3.05:", "+    input: {action: flag, threshold: 0.5}"]),
    ],
)  # fmt: skip
def test_assign_changes_only_the_value(
    path: tuple[str, ...], value: object, expected: list[str]
) -> None:
    new = yaml_edit.assign(BLOCK_STYLE, path, value)
    assert _changed_lines(BLOCK_STYLE, new) == expected
    data = yaml_edit.load(new)
    node = data
    for key in path:
        node = node[key]
    assert node == value


def test_delete_removes_the_key_with_its_separator_or_lines() -> None:
    new = yaml_edit.delete(BLOCK_STYLE, ("categories", "A1.04", "refusal"))
    assert _changed_lines(BLOCK_STYLE, new) == [
        "-    refusal:", "-      zh: 抱歉，我不能提供任何与恐怖主义相关的帮助。",
        "-      en: Sorry, I can't help with terrorism.",
    ]  # fmt: skip
    new = yaml_edit.delete(BLOCK_STYLE, ("categories", "A1.08", "output"))
    assert "  A1.08: {input: {action: block, threshold: 0.725}}" in new
    # The last key of a mapping leaves an empty mapping, not a null.
    emptied = yaml_edit.delete("a:\n  b: 1\nc: 2\n", ("a", "b"))
    assert yaml_edit.load(emptied) == {"a": {}, "c": 2}
    assert yaml_edit.delete(BLOCK_STYLE, ("nothing", "here")) == BLOCK_STYLE


def test_a_layout_it_cannot_edit_in_place_falls_back_to_a_whole_rewrite() -> None:
    aliased = "defaults:\n  input: &d {action: block}\ncategories:\n  A1.01: {input: *d}\n"
    with pytest.raises(yaml_edit.EditFailed):
        yaml_edit.assign(aliased, ("categories", "A1.01", "input", "threshold"), 0.5)
    new = set_rule(aliased, "A1.01", "input", RuleEdit(True, Action.BLOCK, 0.5, None, None))
    assert parse_policy(new, "p").rule("A1.01", "input").threshold == 0.5
    defaults = parse_policy(new, "p").defaults.input
    assert defaults is not None and defaults.threshold == 0.8  # the alias's source is untouched


def test_a_one_field_edit_of_the_shipped_layout_is_one_line() -> None:
    text = TEST_POLICY.read_text("utf-8")
    new = set_rule(text, "A1.04", "input", RuleEdit(True, Action.BLOCK, 0.6, None, None))
    assert _changed_lines(text, new) == [
        "-    input: {action: block, threshold: 0.5}",
        "+    input: {action: block, threshold: 0.6}",
    ]
    new = set_rule(text, "A3.01", "output", RuleEdit(False, Action.REVIEW, 0.5, None, None))
    assert _changed_lines(text, new)[1] == (
        "+  A3.01: {input: {action: flag, threshold: 0.5}, output: {action: review, "
        "threshold: 0.5, enabled: false}}"
    )
    new = set_refusal(
        text, "A1.06", "不能。", "Sorry, I can't produce pornographic or obscene content."
    )
    assert _changed_lines(text, new) == [
        "-      zh: 抱歉，我不能生成色情或淫秽内容。",
        "+      zh: 不能。",
    ]
    new = set_setting(text, ("sanctions", "suspend_after"), None)
    assert _changed_lines(text, new) == ["+  suspend_after: null"]
    assert parse_policy(new, "p").sanctions.suspend_after is None


def _bundle() -> dict[str, str]:
    files = {"default.yaml": TEST_POLICY.read_text("utf-8")}
    for f in sorted(TEST_LEXICON.iterdir()):
        files[f"lexicon/{f.name}"] = f.read_text("utf-8")
    return files


def test_change_list_says_each_change_in_words() -> None:
    live = _bundle()
    draft = dict(live)
    text = set_rule(draft["default.yaml"], "A1.06", "input",
                    RuleEdit(True, Action.REVIEW, 0.5, None, None))  # fmt: skip
    text = set_setting(text, ("audit", "text"), "redacted")
    text = set_default_refusal(text, "input", "请换个问题。", "Please ask something else.")
    draft["default.yaml"] = text
    draft, _ = add_terms(draft, "default.yaml", [check_term("代写毕业论文", "A3.02", 3)])
    draft, _ = add_allow(draft, "default.yaml", ["乌鲁木齐天气"])
    listed = changes(live, "default.yaml", draft, "default.yaml")
    assert listed is not None
    assert [c.zh for c in listed] == [
        "A1.06 宣扬暴力、淫秽色情 · 输入：拦截（阈值 0.25） → 审核（阈值 0.5）",
        "默认拒答文本（输入被拦截时）（中文）：“抱歉，您的请求涉及违反相关法律法规的内容，我无法提供帮助。” → “请换个问题。”",
        "默认拒答文本（输入被拦截时）（英文）：已修改",
        "新增关键词 代写毕业论文 → A3.02 三级",
        "白名单新增 乌鲁木齐天气",
        "决策日志 · 日志保存的文本：只保存哈希 → 保存脱敏文本",
    ]
    english = listed[2]
    assert english.foreign == (
        '"Sorry, this request involves prohibited content and I can\'t help with it." → '
        '"Please ask something else."'
    )
    assert (
        listed[0].en
        == "A1.06 Violence, obscenity, pornography · input: block (threshold 0.25) → review (threshold 0.5)"
    )
    assert listed[0].category == "A1.06"
    assert changes(live, "default.yaml", live, "default.yaml") == []


def test_change_list_of_terms_and_allow_entries_removed() -> None:
    live = _bundle()
    draft, _ = add_allow(live, "default.yaml", ["一个条目"])
    back, removed = remove_allow(draft, "default.yaml", "一个条目")
    assert removed == 1
    listed = changes(draft, "default.yaml", back, "default.yaml")
    assert listed is not None and [c.zh for c in listed] == ["白名单删除 一个条目"]


def test_change_list_of_tenants() -> None:
    live = _bundle()
    text = set_setting(live["default.yaml"], ("tenants", "acme"),
                       {"api_keys_sha256": ["a" * 64], "overrides": {"audit": {"text": "full"}}})  # fmt: skip
    listed = changes(live, "default.yaml", {**live, "default.yaml": text}, "default.yaml")
    assert listed is not None and [c.zh for c in listed] == [
        "新增租户 acme",
        "租户 acme：新增 1 个密钥",
        "租户 acme · 覆盖设置 · 决策日志 · 日志保存的文本：未设 → 保存原文",
    ]


def _problems(text: str) -> list[Problem]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "default.yaml")
    return info.value.problems


@pytest.mark.parametrize(
    ("text", "zh"),
    [
        ("categories:\n  A1.08:\n    input: {threshold: 0.8, review_threshold: 0.9}\n",
         "default.yaml 第 3 行 · A1.08 其他法律、行政法规禁止的内容 · 输入：审核阈值和标记阈值不能高于阈值"
         "（阈值 0.8，审核阈值 0.9）。请调低审核阈值或标记阈值，或调高阈值。"),
        ("fail_mod: closed\n", "default.yaml 第 1 行 · 未知的设置项「fail_mod」。请检查拼写，或删除这一项。"),
        ("categories:\n  A1.04: {input: {action: destroy}}\n",
         "default.yaml 第 2 行 · A1.04 宣扬恐怖主义、极端主义 · 输入 · 动作：「destroy」不是可选的值，"
         "可选：放行、标记、审核、脱敏、拦截。"),
        ("categories:\n  A9.99: {}\n",
         "default.yaml 第 1 行 · 类别规则：未知的类别代码 A9.99。类别代码见 TC260-003 附录 A，例如 A1.04。"),
        ("audit: {text: all}\n",
         "default.yaml 第 1 行 · 决策日志 · 日志保存的文本：「all」不是可选的值，"
         "可选：不保存文本、只保存哈希、保存脱敏文本、保存原文。"),
        ("stream: {check_every_chars: 0}\n",
         "default.yaml 第 1 行 · 流式输出 · 每新增多少字检查一次：必须 ≥ 1（现在是 0）。"),
        ("refusal: {zh: '', en: x}\n", "default.yaml 第 1 行 · 默认拒答文本（输入被拦截时） · 中文：不能为空。"),
        ("name: a\nname: b\n", "default.yaml 第 2 行 · 设置项「name」出现了两次，请删除其中一个。"),
    ],
)  # fmt: skip
def test_problems_in_chinese_name_category_and_field_and_how_to_fix(text: str, zh: str) -> None:
    [problem] = _problems(text)
    assert explain(problem) == zh
    english = explain(problem, "en")
    assert english.startswith("default.yaml, line ") and not any(
        "\u4e00" <= ch <= "\u9fff" for ch in english.replace(problem.message, "")
        if problem.kind != "duplicate_key"
    )  # fmt: skip


def test_term_file_rows_in_chinese() -> None:
    p = Problem("lexicon/a.csv", 4, "level must be an integer, got 'high'", (), "term_file",
                (("message", "level must be an integer, got 'high'"),))  # fmt: skip
    assert explain(p) == "lexicon/a.csv 第 4 行 · 级别应为 1、2 或 3，这一行是「high」。"
    assert explain(p, place=False) == "级别应为 1、2 或 3，这一行是「high」。"


def test_vocabulary() -> None:
    assert [word("action", a, "zh") for a in ("allow", "flag", "review", "redact", "block")] == [
        "放行", "标记", "审核", "脱敏", "拦截"]  # fmt: skip
    assert (
        word("role", "approver", "zh") == "审批人" and word("role", "approver", "en") == "approver"
    )
    assert word("admin_action", "add_term", "zh") == "添加关键词"
    assert word("action", "something-new", "zh") == "something-new"  # unknown codes stay visible
    assert article("Art. 4(1)", "zh") == "《生成式人工智能服务管理暂行办法》第四条第（一）项"
    assert article("Art. 14(2)", "zh") == "《生成式人工智能服务管理暂行办法》第十四条第二款"
    assert article("Art. 13, 14", "zh") == "《生成式人工智能服务管理暂行办法》第十三、十四条"
    assert source("live", "zh") == "生效版本" and source("version 3", "zh") == "第 3 版"
    assert reason_detail("classifier", "score 0.750 >= 0.725", "zh") == "分数 0.750 ≥ 阈值 0.725"
    assert reason_detail("pattern", "cn_mobile", "zh") == "手机号"
    assert reason_detail("keyword", "赌博网站", "zh") == "赌博网站"
