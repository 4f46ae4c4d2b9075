"""Every request leaves its records, whatever ends it; fail-closed means nothing moves."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ADMIN_TOKEN, Gateway, Mock
from tests.support.paths import TEST_POLICY
from tests.support.servers import free_port

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
HI = [{"role": "user", "content": "hi"}]


def _record(gw: Gateway, record_id: str, wait: float = 10.0) -> dict[str, Any]:
    """The record, waiting for it: a disconnected stream is recorded in the background."""
    deadline = time.monotonic() + wait
    with gw.http() as http:
        while True:
            r = http.get(f"/admin/audit/records/{record_id}", headers=ADMIN)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert r.status_code == 200, r.text
    body = r.json()
    return body.get("record", body)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def full_text_gateway(gateway_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    folder = tmp_path_factory.mktemp("policy")
    text = TEST_POLICY.read_text("utf-8").replace("  text: hash ", "  text: full ")
    (folder / "policy.yaml").write_text(text, "utf-8")
    import shutil

    shutil.copytree(TEST_POLICY.parent / "lexicon", folder / "lexicon")
    gw: Gateway = gateway_factory(policy=folder / "policy.yaml")
    return gw


def _post_stream(gw: Gateway, extra: dict[str, Any]) -> httpx.Response:
    with httpx.Client(timeout=30) as client:
        return client.post(gw.v1 + "/chat/completions",
                           json={"model": "m", "messages": HI, "stream": True, **extra})  # fmt: skip


def test_a_complete_stream_is_recorded_complete(full_text_gateway: Gateway) -> None:
    r = _post_stream(full_text_gateway, {"mock_chunks": ["你好", "，世界"]})
    rec = _record(full_text_gateway, r.headers["x-gateway-decision-id"] + "-out")
    assert rec["ending"] == "complete" and rec["text"] == "你好，世界"


def test_an_upstream_that_breaks_mid_stream_is_recorded(full_text_gateway: Gateway) -> None:
    r = _post_stream(full_text_gateway, {"mock_chunks": ["第一段", "第二段", "第三段"],
                                         "mock_break_after": 3, "mock_delay_ms": 30})  # fmt: skip
    assert "upstream_stream_failed" in r.text
    rec = _record(full_text_gateway, r.headers["x-gateway-decision-id"] + "-out")
    assert rec["ending"] == "upstream_failed"
    assert rec["text"].startswith("第一段")


def test_an_error_event_is_recorded(full_text_gateway: Gateway) -> None:
    events = [{"choices": [{"index": 0, "delta": {"content": "开头"}}]},
              {"error": {"message": "overloaded", "code": "overloaded"}}]  # fmt: skip
    r = _post_stream(full_text_gateway, {"mock_events": events})
    assert "upstream_stream_error" in r.text
    rec = _record(full_text_gateway, r.headers["x-gateway-decision-id"] + "-out")
    assert rec["ending"] == "upstream_error" and rec["text"] == "开头"


def test_json_answer_to_a_stream_request_reaches_the_client_as_a_stream(
    full_text_gateway: Gateway,
) -> None:
    stream = full_text_gateway.openai().chat.completions.create(
        model="m", messages=HI, stream=True,
        extra_body={"mock_json_stream": True, "mock_reply": "整段回答"},
    )  # fmt: skip
    content = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert content == "整段回答"


def test_json_answer_to_a_stream_request_is_moderated(full_text_gateway: Gateway) -> None:
    r = _post_stream(full_text_gateway, {"mock_json_stream": True, "mock_reply": "制作炸弹的方法"})
    assert "content_filter" in r.text and "炸弹" not in r.text
    rec = _record(full_text_gateway, r.headers["x-gateway-decision-id"] + "-out")
    assert rec["ending"] == "blocked"


def test_a_client_that_leaves_mid_stream_leaves_a_record(full_text_gateway: Gateway) -> None:
    body = {"model": "m", "messages": HI, "stream": True, "mock_delay_ms": 50,
            "mock_chunks": [f"第{i}句。" for i in range(60)]}  # fmt: skip
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", full_text_gateway.v1 + "/chat/completions", json=body) as r,
    ):
        decision_id = r.headers["x-gateway-decision-id"]
        for line in r.iter_lines():
            if line.startswith("data: ") and "第" in line:
                break  # leave after the first released text
    rec = _record(full_text_gateway, decision_id + "-out")
    assert rec["ending"] == "client_disconnected"
    assert rec["text"].startswith("第0句")
    assert _record(full_text_gateway, decision_id)["direction"] == "input"


def test_upstream_error_status_and_unreachable_upstream_are_recorded(
    full_text_gateway: Gateway, gateway_factory: Any
) -> None:
    raw = httpx.post(full_text_gateway.v1 + "/chat/completions", timeout=30,
                     json={"model": "m", "messages": HI, "mock_status": 500})  # fmt: skip
    assert raw.status_code == 500
    rec = _record(full_text_gateway, raw.headers["x-gateway-decision-id"] + "-out")
    assert rec["ending"] == "upstream_error"
    down = gateway_factory(upstream_url=f"http://127.0.0.1:{free_port()}/v1")
    raw = httpx.post(down.v1 + "/chat/completions", timeout=30, json={"model": "m", "messages": HI})
    assert raw.status_code == 502
    rec = _record(down, raw.headers["x-gateway-decision-id"] + "-out")
    assert rec["ending"] == "upstream_failed"


# ---------------------------------------------------------------- fail closed
def _down_url() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/test?connect_timeout=1"


def test_log_down_fail_closed_calls_no_upstream_and_releases_nothing(
    gateway_factory: Any, write_policy: Any, mock: Mock
) -> None:
    gw = gateway_factory(
        policy=write_policy('lexicon: {files: ["lexicon/*.csv"]}\naudit: {fail_open: false}\n'),
        audit_url=_down_url(),
    )
    before = mock.requests
    for _ in range(5):
        with pytest.raises(openai.APIStatusError) as info:
            gw.openai().chat.completions.create(model="m", messages=HI)
        assert info.value.status_code == 503
    r = _post_stream(gw, {"mock_chunks": ["不", "应", "出", "现"]})
    assert "不" not in r.text and "应" not in r.text
    assert mock.requests - before <= 1  # at most the request that found the log down
    ready = gw.http().get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "not_ready"


def test_readyz_is_ready_while_a_fail_open_log_spools(
    gateway_factory: Any, write_policy: Any
) -> None:
    gw = gateway_factory(
        policy=write_policy('lexicon: {files: ["lexicon/*.csv"]}\naudit: {fail_open: true}\n'),
        audit_url=_down_url(),
    )
    gw.openai().chat.completions.create(model="m", messages=HI)
    ready = gw.http().get("/readyz")
    assert ready.status_code == 200 and ready.json()["decision_log"] == "down, spooling"


# ---------------------------------------------------------------- labels
def test_a_cut_stream_and_a_refusal_carry_the_ai_labels(
    gateway_factory: Any, write_policy: Any
) -> None:
    policy = write_policy(
        'lexicon: {files: ["lexicon/*.csv"]}\n'
        "labels: {explicit: {enabled: true, position: end},"
        " implicit: {enabled: true, content_producer: acme}}\n"
    )
    gw = gateway_factory(policy=policy)
    r = _post_stream(
        gw,
        {
            "messages": [{"role": "user", "content": "你好"}],
            "mock_chunks": ["好的，", "制作炸", "弹的方法"],
        },
    )
    chunks = [json.loads(line[6:]) for line in r.text.splitlines()
              if line.startswith("data: {")]  # fmt: skip
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "content_filter"
    assert last["choices"][0]["delta"]["content"].endswith("本内容由人工智能生成")
    assert last["aigc"]["ContentProducer"] == "acme"
    refusal = gw.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "教我怎么制作炸弹"}]
    )
    assert refusal.choices[0].message.content.endswith("本内容由人工智能生成")
    assert refusal.to_dict()["aigc"]["Label"] == "1"
