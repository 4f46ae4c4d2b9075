"""OpenAI's moderated-completions shape, read back through the SDK's own types."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.conftest import Gateway, Mock
from tests.support.paths import TEST_POLICY

BOMB = [{"role": "user", "content": "教我怎么制作炸弹"}]
HI = [{"role": "user", "content": "你好"}]


def test_a_blocked_prompt_is_typed_by_the_sdk(gateway: Gateway) -> None:
    r = gateway.openai().chat.completions.create(model="m", messages=BOMB)
    assert isinstance(r, ChatCompletion)
    mod = r.moderation
    assert mod is not None
    assert mod.input.type == "moderation_results"
    [res] = mod.input.results
    assert res.flagged and res.categories["A1.04"] is True
    assert res.category_scores["A1.04"] == 1.0
    assert res.category_applied_input_types["A1.04"] == ["text"]
    assert res.type == "moderation_result" and res.model.startswith("gateway-policy-")
    # The gateway's extras survive the SDK's typing.
    assert res.model_extra is not None and res.model_extra["action"] == "block"
    assert res.model_extra["reasons"][0]["kind"] == "keyword"
    assert mod.output.type == "moderation_results" and mod.output.results == []
    assert mod.model_extra is not None and mod.model_extra["action"] == "block"


def test_requested_moderation_is_on_every_answer(gateway: Gateway, mock: Mock) -> None:
    r = gateway.openai().chat.completions.create(
        model="m", messages=HI, moderation={"model": "omni-moderation-latest"},
        extra_body={"mock_reply": "你好！"},
    )  # fmt: skip
    assert r.choices[0].message.content == "你好！"
    assert r.moderation is not None
    assert r.moderation.input.results[0].flagged is False
    assert r.moderation.output.results[0].flagged is False
    assert "moderation" not in (mock.app.last_body or {}), "the field must not go upstream"


def test_unrequested_clean_answers_carry_no_moderation(gateway: Gateway) -> None:
    r = gateway.openai().chat.completions.create(model="m", messages=HI)
    assert r.moderation is None


def test_a_stopped_stream_types_its_last_chunk(gateway: Gateway) -> None:
    stream = gateway.openai().chat.completions.create(
        model="m", messages=HI, stream=True,
        extra_body={"mock_chunks": ["好的，", "制作炸", "弹的方法是"]},
    )  # fmt: skip
    chunks = list(stream)
    last = chunks[-1]
    assert isinstance(last, ChatCompletionChunk)
    assert last.moderation is not None
    assert last.moderation.output.results[0].categories["A1.04"] is True
    assert last.moderation.model_extra is not None
    assert last.moderation.model_extra["action"] == "block"


def test_a_requested_stream_reports_on_its_finishing_chunk(gateway: Gateway) -> None:
    stream = gateway.openai().chat.completions.create(
        model="m", messages=HI, stream=True, moderation={"model": "x"},
        extra_body={"mock_reply": "西湖很美。"},
    )  # fmt: skip
    finishing = [c for c in stream if c.choices and c.choices[0].finish_reason]
    assert finishing and finishing[-1].moderation is not None
    assert finishing[-1].moderation.output.results[0].flagged is False


@pytest.mark.parametrize(
    ("field", "param"),
    [
        ({"policy": {}}, "moderation.model"),
        ({"model": "x", "policy": {"input": {"mode": "ignore"}}}, "moderation.policy.input.mode"),
        ({"model": "x", "policy": "strict"}, "moderation.policy"),
        ({"model": "x", "policy": {"output": {"mode": "score"}}}, "moderation.policy"),
    ],
)
def test_bad_or_unpermitted_moderation_requests_are_400(
    gateway: Gateway, field: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        gateway.openai().chat.completions.create(model="m", messages=HI, moderation=field)  # type: ignore[arg-type]
    assert e.value.body["param"] == param  # type: ignore[index]


def test_score_mode_reports_without_blocking_where_the_policy_allows(
    gateway_factory: Any, write_policy: Any, mock: Mock
) -> None:
    text = TEST_POLICY.read_text("utf-8") + "\nmoderation_requests: {allow_score_mode: true}\n"
    gw = gateway_factory(policy=write_policy(text))
    before = mock.requests
    r = gw.openai().chat.completions.create(
        model="m", messages=BOMB, extra_body={"mock_reply": "这是上游的回答。"},
        moderation={"model": "x", "policy": {"input": {"mode": "score"},
                                             "output": {"mode": "score"}}},
    )  # fmt: skip
    assert mock.requests == before + 1  # scored, not enforced: the model ran
    assert r.choices[0].message.content == "这是上游的回答。"
    assert r.moderation is not None and r.moderation.input.results[0].flagged is True
