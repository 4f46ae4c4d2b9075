"""Which validation rows the calibration budgets hold (models/training/calibration.py), with a
scorer that reads each row's scores from a table: English benign comments scored as
prompts, answers of codes with few harmful answers, and the social-media report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from models.training import calibration, report
from models.training.example import Direction, Example, Lang, with_direction

LABELS = ["A2.09", "X1"]


class TableScorer:
    """Scores per model input (direction marker + normalized text); unknown inputs 0."""

    def __init__(self) -> None:
        self.table: dict[str, list[float]] = {}

    def add(self, text: str, direction: str, scores: list[float]) -> None:
        self.table[with_direction(text, direction)] = scores

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        zero = [0.0] * len(LABELS)
        return np.array([self.table.get(t, zero) for t in texts], dtype=float).reshape(
            len(texts), len(LABELS)
        )


def _row(text: str, direction: Direction, codes: set[str], source: str, lang: Lang) -> Example:
    return Example(text, direction, frozenset(codes), source, text, split="val", lang=lang)


def _base(scorer: TableScorer) -> list[Example]:
    """60 harmful prompts per code (scored 0.9 on it), 300 everyday benign prompts (0), and
    benign answers long enough to be checked as a stream (0)."""
    rows = []
    for j, code in enumerate(LABELS):
        for i in range(60):
            text = f"harmful prompt {code} number {i}"
            rows.append(_row(text, "in", {code}, "written", "en"))
            scorer.add(text, "in", [0.9 if k == j else 0.0 for k in range(len(LABELS))])
    for i in range(300):
        rows.append(_row(f"everyday question {i}", "in", set(), "everyday", "en"))
    for i in range(5):
        rows.append(_row(f"a benign answer {i} " + "words " * 20, "out", set(), "answers", "en"))
    return rows


def test_english_benign_comments_scored_as_prompts_stay_within_their_budget() -> None:
    scorer = TableScorer()
    rows = _base(scorer)
    # 200 benign English comments, a fifth scored 0.6-0.8 on A2.09 as prompts; as answers
    # ("out") they score nothing, so only scoring them as prompts can see them.
    for i in range(200):
        text = f"benign tweet {i}"
        rows.append(_row(text, "out", set(), "Davidson", "en"))
        if i % 5 == 0:
            scorer.add(text, "in", [0.6 + 0.2 * i / 200, 0.0])
    budgets = calibration.Budgets(english_comments=0.06)
    th, cal = calibration.calibrate_thresholds(scorer, rows, LABELS, budgets)
    tweets = [with_direction(f"benign tweet {i}", "in") for i in range(200)]
    flagged = report.any_flag(scorer(tweets), th["in"])
    assert flagged.mean() <= 0.06
    assert flagged.mean() > 0.0  # raised only as far as the budget needs
    assert cal["english_comments_budget"] == 0.06
    # The harmful prompts of A2.09 (0.9) are still caught.
    assert th["in"][0] <= 0.9


def test_answer_thresholds_of_thin_codes_start_at_the_floor_and_keep_the_margin() -> None:
    scorer = TableScorer()
    rows = _base(scorer)
    # Three harmful answers of X1 (too few to tune on) at 0.95, and one benign answer whose
    # stream windows score 0.85 on X1: within the margin of a 0.9 threshold.
    for i in range(3):
        text = f"a harmful answer {i} " + "bad " * 20
        rows.append(_row(text, "out", {"X1"}, "written", "en"))
        for window in [*report.calibration_windows(text), text]:
            scorer.add(window, "out", [0.0, 0.95])
    near = "a benign answer that reads like something else " * 2
    rows.append(_row(near, "out", set(), "answers", "en"))
    for window in [*report.calibration_windows(near), near]:
        scorer.add(window, "out", [0.0, 0.85])
    th, cal = calibration.calibrate_thresholds(scorer, rows, LABELS, calibration.Budgets())
    x1 = th["out"][1]
    assert x1 >= calibration.ANSWER_FLOOR
    assert x1 >= 0.85 + calibration.ANSWER_MARGIN - 1e-9
    pools: Any = cal["benign_pools"]
    assert pools["answers"]["fpr"] == 0.0


def test_social_comments_are_reported_as_the_moderation_endpoint_scores_them() -> None:
    scorer = TableScorer()
    rows = []
    for i in range(10):
        # Offensive comments stored as answers half the time; as prompts they score 0.9.
        text = f"offensive comment {i}"
        rows.append(Example(text, "out", frozenset({"A2.09"}), "COLD", text, split="test"))
        scorer.add(text, "in", [0.9, 0.0])
    for i in range(10):
        text = f"benign comment {i}"
        rows.append(Example(text, "in", frozenset(), "COLD", text, split="test"))
    rows.append(Example("not social", "in", frozenset(), "everyday", "x", split="test"))
    th = {"in": np.array([0.5, 0.5]), "out": np.array([0.99, 0.99])}
    out = report.social_as_prompts(scorer, rows, th)
    assert set(out) == {"COLD"}
    assert out["COLD"]["recall"] == 1.0
    assert out["COLD"]["fpr"] == 0.0


def test_answers_sharing_a_topic_group_are_counted_one_by_one() -> None:
    """The answer pool counts answers, not topic groups: three benign answers of one group
    are three answers, each with its own stream windows."""
    rows = [
        Example(f"answer {i} about one topic " + "words " * 20, "out", frozenset(), "answers",
                "topic", split="val", lang="en")
        for i in range(3)
    ]  # fmt: skip
    pools = calibration.benign_pools(rows)
    owners = {r.group for r in pools["answers"]}
    assert len(owners) == 3
    expected = sum(len(report.calibration_windows(r.text)) + 1 for r in rows)
    assert len(pools["answers"]) == expected


def test_stream_windows_start_where_the_gateway_first_judges() -> None:
    """The recipe's stream windows begin exactly where the gateway's classifier gate (the
    shipped policy's minimums) first judges an answer: at 40 Chinese characters or 80
    characters of any kind (English, mixed, an English opening that turns Chinese)."""
    from gateway.moderation.stream_gate import ClassifierGate
    from gateway.policy.model import StreamSpec

    spec = StreamSpec()
    assert (spec.classifier_min_chars, spec.classifier_min_chars_latin) == (
        report.PREFIX_MIN,
        report.PREFIX_MIN_LATIN,
    )
    gate = ClassifierGate(
        _never,
        retract=True,
        min_chars=spec.classifier_min_chars,
        min_chars_latin=spec.classifier_min_chars_latin,
    )
    answers = [
        "Things to do before selling your old laptop: back up, sign out, wipe the disk. " * 2,
        "卖旧电脑前要做的事情：先备份文件，再退出所有账号，最后恢复出厂设置。" * 3,
        "OK, here is the plan for tomorrow morning: " + "上午九点出发，十点到公园，中午野餐。" * 3,
        "**杀猪盘 (pig-butchering scam)** 的名字来自骗子的黑话：先“养猪”，再“杀猪”。" * 3,
        "好的" + "，" * 50 + "这是答案。" * 20,
    ]
    for text in answers:
        ends = range(report.PREFIX_MIN, len(text), report.STREAM_STEP)
        expected = [
            text[max(0, e - report.STREAM_WINDOW) : e] for e in ends if gate.ready(text[:e], False)
        ]
        assert report.stream_windows(text) == expected
        # Calibration sees every window the gateway judges, and the short mixed ones too.
        assert set(expected) <= set(report.calibration_windows(text))


async def _never(texts: Sequence[str]) -> Any:
    raise AssertionError("ready() judges nothing")
