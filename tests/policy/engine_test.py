"""The decision function, table-driven: (policy, facts) -> action, categories, reasons."""

from __future__ import annotations

import pytest

from gateway.decision import Action, Direction
from gateway.policy.engine import Facts, KeywordFact, PatternFact, evaluate
from gateway.policy.model import Policy

POLICY = Policy.model_validate(
    {
        "defaults": {
            "input": {
                "action": "block",
                "threshold": 0.8,
                "review_threshold": 0.6,
                "flag_threshold": 0.4,
            },
            "output": {"action": "block", "threshold": 0.9},
        },
        "categories": {
            "A2.05": {"input": {"action": "review", "threshold": 0.7}},
            "A5.01": {"input": {"enabled": False}},
            "A1.04": {"refusal": {"zh": "恐怖主义拒答", "en": "no terror"}},
        },
        "pii": {"input_action": "redact", "output_action": "block"},
    }
)

IN, OUT = Direction.INPUT, Direction.OUTPUT


def kw(term: str, cat: str, level: int = 3, start: int = 0, i: int = 0) -> KeywordFact:
    return KeywordFact(term, cat, level, i, start, start + len(term))


CASES = [
    # (name, facts, action, categories)
    ("nothing", Facts(IN, ["hi"]), Action.ALLOW, ()),
    (
        "keyword level 1 uses the category action",
        Facts(IN, ["x"], [kw("炸弹", "A1.04")]),
        Action.BLOCK,
        ("A1.04",),
    ),
    (
        "keyword level 2 reviews",
        Facts(IN, ["x"], [kw("赌", "A1.08", 2)]),
        Action.REVIEW,
        ("A1.08",),
    ),
    ("keyword level 1 flags", Facts(IN, ["x"], [kw("赌", "A1.08", 1)]), Action.FLAG, ("A1.08",)),
    (
        "category override action",
        Facts(IN, ["x"], [kw("女人", "A2.05")]),
        Action.REVIEW,
        ("A2.05",),
    ),
    ("disabled category is ignored", Facts(IN, ["x"], [kw("x", "A5.01")]), Action.ALLOW, ()),
    (
        "score at threshold blocks",
        Facts(IN, ["x"], scores={"A1.06": 0.8}),
        Action.BLOCK,
        ("A1.06",),
    ),
    ("score in review band", Facts(IN, ["x"], scores={"A1.06": 0.65}), Action.REVIEW, ("A1.06",)),
    ("score in flag band", Facts(IN, ["x"], scores={"A1.06": 0.45}), Action.FLAG, ("A1.06",)),
    ("score below every band", Facts(IN, ["x"], scores={"A1.06": 0.3}), Action.ALLOW, ()),
    ("output uses output thresholds", Facts(OUT, ["x"], scores={"A1.06": 0.85}), Action.ALLOW, ()),
    (
        "category threshold override",
        Facts(IN, ["x"], scores={"A2.05": 0.75}),
        Action.REVIEW,
        ("A2.05",),
    ),
    (
        "most severe wins",
        Facts(IN, ["x"], [kw("赌", "A1.08", 1), kw("炸弹", "A1.04")]),
        Action.BLOCK,
        ("A1.08", "A1.04"),
    ),
    (
        "pii redacts input",
        Facts(IN, ["电话13812345678"], patterns=[PatternFact("cn_mobile", 0, 2, 13)]),
        Action.REDACT,
        ("A4.06",),
    ),
    (
        "pii blocks output here",
        Facts(OUT, ["x"], patterns=[PatternFact("email", 0, 0, 1)]),
        Action.BLOCK,
        ("A4.06",),
    ),
    ("suspended user blocked", Facts(IN, ["hi"], user_status="suspended"), Action.BLOCK, ("X3",)),
    (
        "classifier down, fail closed",
        Facts(IN, ["hi"], classifier_failed=True),
        Action.BLOCK,
        ("X2",),
    ),
]


@pytest.mark.parametrize(
    ("name", "facts", "action", "categories"), CASES, ids=[c[0] for c in CASES]
)
def test_decision_table(
    name: str, facts: Facts, action: Action, categories: tuple[str, ...]
) -> None:
    d = evaluate(POLICY, facts, decision_id="d1", version="v1", language="zh")
    assert d.action is action
    assert d.categories == categories
    assert d.policy_version == "v1"
    assert (d.refusal != "") == (action is Action.BLOCK)


def test_fail_open_flags_instead_of_blocking() -> None:
    policy = POLICY.model_copy(update={"fail_mode": "open"})
    d = evaluate(
        policy,
        Facts(IN, ["hi"], classifier_failed=True),
        decision_id="d",
        version="v",
        language="zh",
    )
    assert d.action is Action.FLAG


def test_reasons_say_why() -> None:
    d = evaluate(
        POLICY,
        Facts(IN, ["x"], [kw("炸弹", "A1.04", start=3)], scores={"A1.06": 0.91}),
        decision_id="d",
        version="v",
        language="zh",
    )
    kinds = {(r.kind, r.category, r.detail) for r in d.reasons}
    assert ("keyword", "A1.04", "炸弹") in kinds
    assert ("classifier", "A1.06", "score 0.910 >= 0.8") in kinds


def test_category_refusal_text_and_language() -> None:
    facts = Facts(IN, ["x"], [kw("炸弹", "A1.04")])
    assert (
        evaluate(POLICY, facts, decision_id="d", version="v", language="zh").refusal
        == "恐怖主义拒答"
    )
    assert (
        evaluate(POLICY, facts, decision_id="d", version="v", language="en").refusal == "no terror"
    )


def test_redaction_replaces_only_the_spans_in_the_right_text() -> None:
    texts = ["第一条", "电话13812345678谢谢"]
    d = evaluate(
        POLICY,
        Facts(IN, texts, patterns=[PatternFact("cn_mobile", 1, 2, 13)]),
        decision_id="d",
        version="v",
        language="zh",
    )
    assert d.redacted == ("第一条", "电话[已脱敏]谢谢")


def test_same_facts_same_decision() -> None:
    facts = Facts(IN, ["x"], [kw("赌", "A1.08", 2)], scores={"A1.06": 0.7})
    a = evaluate(POLICY, facts, decision_id="d", version="v", language="zh")
    b = evaluate(POLICY, facts, decision_id="d", version="v", language="zh")
    assert a == b


@pytest.mark.parametrize(
    ("status", "facts_keywords", "expected"),
    [
        ("suspended", [], "您的账号因多次违规已被暂停使用。"),
        # A restricted user's borderline input is refused with the restriction's message,
        # never told the account is suspended.
        (
            "restricted",
            [kw("赌", "A1.08", 2)],
            "您的账号因多次违规已被限制使用部分功能，本次请求无法处理。",
        ),
    ],
)
def test_sanction_refusal_names_the_sanction_applied(
    status: str, facts_keywords: list[KeywordFact], expected: str
) -> None:
    facts = Facts(IN, ["x"], facts_keywords, user_status=status)  # type: ignore[arg-type]
    d = evaluate(POLICY, facts, decision_id="d", version="v", language="zh")
    assert d.action is Action.BLOCK
    assert d.refusal == expected


LANGUAGE_POLICY = Policy.model_validate(
    {
        "classifier": {"languages": ["zh", "en"], "elsewhere": "review"},
        "defaults": {"output": {"action": "block", "threshold": 0.5}},
    }
)


@pytest.mark.parametrize(
    ("language", "action"),
    [("zh", Action.BLOCK), ("en", Action.BLOCK), ("none", Action.BLOCK), ("ru", Action.REVIEW),
     ("ja", Action.REVIEW), ("other", Action.REVIEW)],
)  # fmt: skip
def test_a_classifier_blocks_only_in_its_validated_languages(language: str, action: Action) -> None:
    facts = Facts(OUT, ["x"], scores={"A1.04": 0.9}, language=language)
    d = evaluate(LANGUAGE_POLICY, facts, decision_id="d", version="v", language="zh")
    assert d.action is action
    if action is Action.REVIEW:
        assert f"language {language}: review only" in d.reasons[0].detail


def test_keywords_block_in_every_language() -> None:
    facts = Facts(OUT, ["x"], [kw("炸弹", "A1.04")], scores={"A1.04": 0.9}, language="ru")
    d = evaluate(LANGUAGE_POLICY, facts, decision_id="d", version="v", language="zh")
    assert d.action is Action.BLOCK


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["今天天气很好"], "zh"),
        (["帮我写个Python script，要能读取CSV文件"], "zh"),
        (["How do I bake bread?"], "en"),
        (["Où est la gare ? Très bien."], "en"),
        (["Привет, как дела?"], "ru"),
        (["今日はいい天気ですね"], "ja"),
        (["안녕하세요 반갑습니다"], "ko"),
        (["مرحبا بك"], "ar"),
        (["12345 + 678 = ?", "```\n{}\n```"], "none"),
        (["สวัสดีครับ"], "other"),
    ],
)
def test_script_language(texts: list[str], expected: str) -> None:
    from gateway.moderation.language import script_language

    assert script_language(texts) == expected
