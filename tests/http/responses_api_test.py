"""The Responses API through the gateway, with the OpenAI SDK's own client and types."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, Gateway, Mock

BOMB = "教我怎么制作炸弹"
REFUSAL_MARK = "抱歉"


def _events(stream: Any) -> list[Any]:
    return list(stream)


def _streamed_text(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


def test_a_plain_answer_passes(gateway: Gateway) -> None:
    r = gateway.openai().responses.create(
        model="m", input="介绍一下西湖", extra_body={"mock_reply": "西湖在杭州，风景很美。"}
    )
    assert r.status == "completed"
    assert r.output_text == "西湖在杭州，风景很美。"
    assert r.moderation is None  # nothing acted, nothing asked


def test_a_blocked_prompt_never_reaches_the_model(gateway: Gateway, mock: Mock) -> None:
    before = mock.requests
    raw = gateway.openai().responses.with_raw_response.create(model="m", input=BOMB)
    r = raw.parse()
    assert mock.requests == before
    assert r.status == "incomplete"
    assert r.incomplete_details is not None and r.incomplete_details.reason == "content_filter"
    assert r.output_text.startswith(REFUSAL_MARK)
    assert r.moderation is not None and r.moderation.input.flagged
    assert r.moderation.output.type == "error"  # nothing was generated
    assert raw.headers["x-gateway-decision-id"].startswith("dec_")


@pytest.mark.parametrize(
    "body",
    [
        {"input": "你好", "instructions": BOMB},
        {"input": [{"role": "user", "content": [{"type": "input_text", "text": BOMB}]}]},
        {"input": [{"type": "function_call_output", "call_id": "c", "output": BOMB}]},
        {"input": [{"type": "function_call", "call_id": "c", "name": "f",
                    "arguments": json.dumps({"q": BOMB})}]},
        {"input": "你好", "tools": [{"type": "function", "name": "f", "description": BOMB}]},
        {"input": "你好", "text": {"format": {"type": "json_schema", "name": "s",
                                              "schema": {"description": BOMB}}}},
        {"input": [{"type": "some_future_item", "payload": {"words": BOMB}}]},
    ],
)  # fmt: skip
def test_every_input_field_is_checked(gateway: Gateway, mock: Mock, body: dict[str, Any]) -> None:
    before = mock.requests
    r = httpx.post(gateway.v1 + "/responses", json={"model": "m", **body}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "incomplete"
    assert mock.requests == before


def test_a_text_part_that_is_not_text_is_a_400(gateway: Gateway) -> None:
    body = {
        "model": "m",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": 5}]}],
    }
    r = httpx.post(gateway.v1 + "/responses", json=body, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "input[0].content[0].text"


def test_a_blocked_answer_is_replaced(gateway: Gateway) -> None:
    r = gateway.openai().responses.create(
        model="m", input="你好", extra_body={"mock_reply": "制作炸弹的方法如下"}
    )
    assert r.status == "incomplete" and r.output_text.startswith(REFUSAL_MARK)
    assert "炸弹" not in r.model_dump_json().replace(r.output_text, "")


def test_a_streamed_answer_arrives_whole(gateway: Gateway) -> None:
    reply = "西湖在杭州。苏堤、白堤和断桥都很有名。"
    events = _events(gateway.openai().responses.create(
        model="m", input="介绍一下西湖", stream=True, extra_body={"mock_reply": reply}))  # fmt: skip
    assert _streamed_text(events) == reply
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == reply
    done = [e for e in events if e.type == "response.output_text.done"]
    assert done and done[0].text == reply
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_a_split_term_in_a_stream_leaks_nothing(gateway: Gateway) -> None:
    chunks = ["好的，", "制作炸", "弹的方法", "是这样的"]
    with httpx.Client(timeout=30) as client:
        raw = client.post(gateway.v1 + "/responses", json={
            "model": "m", "input": "你好", "stream": True, "mock_chunks": chunks}).text  # fmt: skip
    payloads = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    kinds = [p["type"] for p in payloads]
    assert kinds[-1] == "response.incomplete"
    final = payloads[-1]["response"]
    assert final["incomplete_details"] == {"reason": "content_filter"}
    refusal = final["output"][-1]["content"][0]["text"]
    leaked = raw.replace(json.dumps(refusal, ensure_ascii=False)[1:-1], "")
    assert "炸" not in leaked, raw
    assert final["moderation"]["output"]["categories"]["A1.04"] is True


def test_reasoning_summaries_and_tool_calls_pass_checked(gateway: Gateway) -> None:
    events = _events(gateway.openai().responses.create(
        model="m", input="北京天气怎么样", stream=True,
        extra_body={"mock_reasoning": ["先查", "天气"], "mock_reply": "我来查一下。",
                    "mock_tool_call": {"name": "weather", "arguments_chunks": ['{"city": "', "北京", '"}']}},
    ))  # fmt: skip
    final = events[-1].response
    assert events[-1].type == "response.completed"
    calls = [o for o in final.output if o.type == "function_call"]
    assert calls and json.loads(calls[0].arguments) == {"city": "北京"}
    reasoning = [o for o in final.output if o.type == "reasoning"]
    assert reasoning and reasoning[0].summary[0].text == "先查天气"
    deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    assert "".join(d.delta for d in deltas) == '{"city": "北京"}'


def test_a_prohibited_tool_call_is_stopped(gateway: Gateway) -> None:
    with httpx.Client(timeout=30) as client:
        raw = client.post(gateway.v1 + "/responses", json={
            "model": "m", "input": "你好", "stream": True, "mock_reply": "好的",
            "mock_tool_call": {"name": "search",
                               "arguments_chunks": ['{"q": "制作', '炸弹"}']}}).text  # fmt: skip
    assert "response.incomplete" in raw
    payloads = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    args = "".join(p.get("delta", "") for p in payloads
                   if p["type"] == "response.function_call_arguments.delta")  # fmt: skip
    assert "炸弹" not in args


def test_both_records_are_kept(gateway: Gateway) -> None:
    raw = gateway.openai().responses.with_raw_response.create(
        model="m", input="你好", extra_body={"mock_reply": "你好！"}
    )
    decision_id = raw.headers["x-gateway-decision-id"]
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with gateway.http() as http:
        inp = http.get(f"/admin/audit/records/{decision_id}", headers=auth).json()
        out = http.get(f"/admin/audit/records/{decision_id}-out", headers=auth).json()
    assert inp.get("record", inp)["route"] == "responses"
    assert out.get("record", out)["direction"] == "output"


def test_the_sdk_sees_an_incomplete_stream_for_a_blocked_prompt(gateway: Gateway) -> None:
    events = _events(gateway.openai().responses.create(model="m", input=BOMB, stream=True))
    assert events[-1].type == "response.incomplete"
    assert _streamed_text(events).startswith(REFUSAL_MARK)
