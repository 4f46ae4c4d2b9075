"""How the classifier gates a stream: never on a fragment, retraction or holding, and the
held-out bank of benign answers streamed through the default policy and model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from gateway.decision import Decision
from gateway.moderation.stream_gate import ClassifierGate
from tests.conftest import Gateway
from tests.support.paths import ROOT, SHIPPED_POLICY, TEST_POLICY


class Scripted:
    """A stand-in model: flags an answer when ``rule(text)`` says so."""

    def __init__(self, rule: Any, code: str = "A1.06", score: float = 0.99) -> None:
        self.rule, self.code, self.score = rule, code, score
        self.seen: list[str] = []

    async def classify(
        self,
        texts: Sequence[str],
        direction: str | None = None,
        *,
        normalized: Sequence[str] | None = None,
    ) -> list[dict[str, float]]:
        if direction != "output":  # only answers are scripted; prompts pass
            return [{} for _ in texts]
        self.seen.extend(texts)
        return [{self.code: self.score} if self.rule(t) else {} for t in texts]

    def info(self) -> dict[str, str]:
        return {"name": "scripted", "version": "1", "device": "cpu", "dtype": "none"}

    async def aclose(self) -> None:
        return None


def _policy(write_policy: Any, gate: str) -> Any:
    text = TEST_POLICY.read_text("utf-8").replace(
        "classifier_gate: retract", f"classifier_gate: {gate}"
    )
    return write_policy(text)


def _stream(gw: Gateway, text: str, size: int = 2) -> tuple[str, list[dict[str, Any]]]:
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "你好"}],
            "mock_chunks": chunks}  # fmt: skip
    with httpx.Client(timeout=60) as client:
        raw = client.post(gw.v1 + "/chat/completions", json=body).text
    events = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
    released = "".join(
        c["delta"].get("content") or "" for e in events for c in e.get("choices", [])
        if c.get("finish_reason") != "content_filter"
    )  # fmt: skip
    return released, events


def test_no_verdict_on_a_fragment(gateway_factory: Any, write_policy: Any) -> None:
    """A model that flags any short text never sees a short prefix of a long answer."""
    model = Scripted(lambda t: len(t) < 30)
    gw = gateway_factory(policy=_policy(write_policy, "retract"), classifier=model)
    answer = "This is a harmless answer about the weather in Beijing today."
    released, events = _stream(gw, answer)
    assert released == answer
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    assert model.seen and all(len(t) >= 40 for t in model.seen), model.seen


def test_letters_wait_for_more_context_than_chinese_characters() -> None:
    """The classifier first judges an answer once it holds ``min_chars`` Chinese characters
    or ``min_chars_latin`` characters of any kind: English, markup and the English words of
    a mixed answer count less than Chinese characters."""
    gate = ClassifierGate(_never, retract=True, min_chars=40, min_chars_latin=80)
    english = "Things to do before selling your old laptop: back up your files, then wipe it."
    assert not gate.ready(english[:79], final=False)
    assert gate.ready(english[:79], final=True)
    assert gate.ready((english + " Done.")[:80], final=False)
    chinese = "卖旧电脑前要做的事情：先备份文件，再退出所有账号，最后恢复出厂设置，这样就不会泄露个人信息了。"
    first = next(n for n in range(len(chinese) + 1) if gate.ready(chinese[:n], final=False))
    assert first == 44 and sum("\u4e00" <= c <= "\u9fff" for c in chinese[:first]) == 40
    # A mixed anti-scam answer: 40 characters, 13 of them Chinese, is not enough context.
    mixed = "**杀猪盘 (pig-butchering scam)** 的名字来自骗子的黑话：先“养猪”——通过网恋建立 trust，再“杀猪”"
    assert not gate.ready(mixed[:40], final=False) and not gate.ready(mixed[:79], final=False)
    assert gate.ready(mixed[:40], final=True)
    turning = "OK, here is the plan for tomorrow: " + "上午九点出发，十点到公园，中午野餐。" * 3
    assert not gate.ready(turning[:60], final=False) and gate.ready(turning[:80], final=False)
    markdown = "| 项目 | 说明 |\n|---|---|\n" + "| 早餐 | 牛奶面包 |\n" * 6
    assert not gate.ready(markdown[:60], final=False)  # table rules are not context
    # Without a separate minimum, letters wait as long as characters.
    assert ClassifierGate(_never, retract=True, min_chars=40).ready(english[:40], final=False)


async def _never(texts: Sequence[str]) -> Decision:
    raise AssertionError("ready() judges nothing")


def test_stream_waits_for_letters(gateway_factory: Any, write_policy: Any) -> None:
    """Through the gateway: no English window under ``classifier_min_chars_latin`` (80) is
    scored, while a Chinese answer is scored from 40 characters on."""
    model = Scripted(lambda t: False)
    gw = gateway_factory(policy=_policy(write_policy, "retract"), classifier=model)
    english = (
        "Here is a long and harmless answer about planting tomatoes on a balcony in spring. " * 2
    )
    released, _ = _stream(gw, english)
    assert released == english
    assert model.seen and min(len(t) for t in model.seen) >= 80, model.seen
    model.seen.clear()
    chinese = (
        "阳台种番茄的方法：春天播种，选择向阳的位置，每天浇水一次，注意通风，开花后可以人工授粉，结果后及时搭架。"
        * 2
    )
    _stream(gw, chinese)
    assert model.seen and min(len(t) for t in model.seen) < 80, model.seen


def test_a_short_answer_is_judged_whole_at_its_end(gateway_factory: Any, write_policy: Any) -> None:
    model = Scripted(lambda t: "nsfw" in t)
    gw = gateway_factory(policy=_policy(write_policy, "retract"), classifier=model)
    _, events = _stream(gw, "ok nsfw")
    assert events[-1]["choices"][0]["finish_reason"] == "content_filter"
    assert model.seen == ["ok nsfw"]


def test_retract_releases_then_withdraws(gateway_factory: Any, write_policy: Any) -> None:
    model = Scripted(lambda t: "不良内容" in t)
    gw = gateway_factory(policy=_policy(write_policy, "retract"), classifier=model)
    answer = "这是一段很长的开头，用来让分类器有足够的上下文来判断，然后接着出现不良内容，后面还有更多的文字。"
    released, events = _stream(gw, answer)
    last = events[-1]
    assert last["choices"][0]["finish_reason"] == "content_filter"
    moderation = last["moderation"]
    assert moderation["retract"] is True
    # The count tells the client exactly how much of what it showed to withdraw.
    assert moderation["retract_chars"] == len(released) > 0
    assert moderation["retract_fields"] == {"content": len(released)}
    assert answer.startswith(released)


def test_hold_releases_nothing_the_classifier_has_not_passed(
    gateway_factory: Any, write_policy: Any
) -> None:
    model = Scripted(lambda t: "不良内容" in t)
    gw = gateway_factory(policy=_policy(write_policy, "hold"), classifier=model)
    answer = "开头一句话。不良内容就在这里，后面还有更多的文字，足够长了吧，再多写几个字。"
    released, events = _stream(gw, answer)
    assert events[-1]["choices"][0]["finish_reason"] == "content_filter"
    assert released == ""
    assert "retract" not in events[-1]["moderation"]


@pytest.mark.parametrize("gate", ["retract", "hold"])
def test_benign_answers_pass_whole_in_either_mode(
    gateway_factory: Any, write_policy: Any, gate: str
) -> None:
    model = Scripted(lambda t: False)
    gw = gateway_factory(policy=_policy(write_policy, gate), classifier=model)
    answer = "西湖位于杭州，是著名的风景区。" * 8
    released, _ = _stream(gw, answer, size=3)
    assert released == answer


BANK = ROOT / "tests" / "fixtures" / "benign_stream_answers.jsonl"


def test_shipped_defaults_stream_every_benign_answer_whole(gateway_factory: Any) -> None:
    """The held-out bank (never used for training) streamed in 1-4 character chunks through
    the shipped policy and model: not one answer is cut off."""
    import random

    rows = [json.loads(line) for line in BANK.read_text("utf-8").splitlines() if line.strip()]
    assert len(rows) >= 300
    gw = gateway_factory(policy=SHIPPED_POLICY, classifier="auto", classifier_device="cpu")
    rng = random.Random(13)
    cut = []
    with httpx.Client(timeout=60) as client:
        for row in rows:
            text = row["text"]
            chunks, pos = [], 0
            while pos < len(text):
                n = rng.randint(1, 4)
                chunks.append(text[pos : pos + n])
                pos += n
            body = {"model": "m", "stream": True, "mock_chunks": chunks,
                    "messages": [{"role": "user", "content": "请回答我的问题。"}]}  # fmt: skip
            raw = client.post(gw.v1 + "/chat/completions", json=body).text
            if "content_filter" in raw:
                cut.append((row["id"], text[:60]))
    assert not cut, f"{len(cut)} of {len(rows)} benign answers cut off: {cut[:10]}"
