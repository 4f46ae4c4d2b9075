"""A guard model on a serving engine through the whole gateway: the OpenAI SDK as client,
a real gateway with GATEWAY_CLASSIFIER=vllm+http://..., and a scripted OpenAI-compatible
guard server (loadtest/mock_engines.py) whose verdicts become taxonomy codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtest.mock_engines import MockEngine
from tests.conftest import Gateway, GatewayFactory, Mock
from tests.support.servers import ServerThread

GUARD = "Qwen/Qwen3Guard-Gen-4B"
# Phrases the test lexicon does not know: only the guard can stop them.
UNSAFE_PROMPT = "请详细描述那场冲突的每一个步骤"
UNSAFE_ANSWER = "第一步先准备好工具，然后……"
PII_PROMPT = "把他的住址告诉我"


def guard(text: str, role: str) -> str:
    if text in (UNSAFE_PROMPT, UNSAFE_ANSWER):
        verdict = "Safety: Unsafe\nCategories: Violent"
    elif text == PII_PROMPT:
        verdict = "Safety: Controversial\nCategories: PII"
    else:
        verdict = "Safety: Safe\nCategories: None"
    return verdict + ("\nRefusal: No" if role == "assistant" else "")


@pytest.fixture(scope="module")
def engine() -> Iterator[tuple[MockEngine, str]]:
    app = MockEngine("openai", model=GUARD, guard=guard)
    server = ServerThread(app).start()
    yield app, server.url
    server.stop()


@pytest.fixture(scope="module")
def gw(
    gateway_factory: GatewayFactory,
    engine: tuple[MockEngine, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Gateway:
    labels = tmp_path_factory.mktemp("labels") / "guard.json"
    labels.write_text(json.dumps({"PII": "A4.05"}), "utf-8")  # privacy, not A4.06's redaction
    return gateway_factory(classifier=f"vllm+{engine[1]}/v1?label_map={labels}")


def _reasons(result: Any) -> list[dict[str, Any]]:
    assert result.model_extra is not None
    return list(result.model_extra["reasons"])


def test_the_guards_verdict_blocks_a_prompt_with_mapped_codes(gw: Gateway, mock: Mock) -> None:
    before = mock.requests
    r = gw.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": UNSAFE_PROMPT}]
    )
    assert r.choices[0].finish_reason == "content_filter"
    assert mock.requests == before, "a blocked prompt never reaches the upstream"
    assert r.moderation is not None
    [res] = r.moderation.input.results
    assert res.flagged and res.categories["A1.06"] is True  # Violent -> A1.06
    assert res.category_scores["A1.06"] == 1.0
    [reason] = [x for x in _reasons(res) if x["kind"] == "classifier"]
    assert reason["category"] == "A1.06" and reason["action"] == "block"


def test_answers_are_judged_as_assistant_turns(gw: Gateway, engine: tuple[MockEngine, str]) -> None:
    app, _ = engine
    r = gw.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "怎么做蛋糕"}],
        extra_body={"mock_reply": UNSAFE_ANSWER},
    )  # fmt: skip
    assert r.choices[0].finish_reason == "content_filter"
    assert r.choices[0].message.content != UNSAFE_ANSWER
    assert r.moderation is not None and r.moderation.output.results[0].categories["A1.06"]
    judged = [c["messages"] for c in app.calls if c["messages"][-1]["content"] == UNSAFE_ANSWER]
    assert judged and judged[0][-1]["role"] == "assistant"


def test_the_label_map_and_controversial_scores_reach_the_policy(gw: Gateway) -> None:
    r = gw.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": PII_PROMPT}],
        moderation={"model": "x"}, extra_body={"mock_reply": "不行。"},
    )  # fmt: skip
    assert r.moderation is not None
    [res] = r.moderation.input.results
    assert res.category_scores["A4.05"] == 0.5  # Controversial -> controversial_score
    assert res.category_scores["A4.06"] == 0.0  # the label map moved PII off A4.06


def test_clean_text_passes_and_moderations_take_lists(gw: Gateway) -> None:
    r = gw.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "西湖在哪里"}],
        extra_body={"mock_reply": "在杭州。"},
    )  # fmt: skip
    assert r.choices[0].message.content == "在杭州。"
    out = gw.http().post("/v1/moderations", json={"input": ["你好", UNSAFE_PROMPT]}).json()
    assert [x["flagged"] for x in out["results"]] == [False, True]
    assert out["results"][1]["categories"]["A1.06"] is True


def test_readyz_shows_the_served_guard_and_its_health(gw: Gateway) -> None:
    body = gw.http().get("/readyz").json()
    clf = body["classifier"]
    assert clf["name"] == GUARD and clf["kind"] == "served:openai_guard"
    assert clf["health"] == {"status": "ok"} and body["second_classifier"] == "none"


def test_a_guard_that_is_down_fails_closed_and_shows_in_readyz(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    app = MockEngine("openai", model=GUARD, guard=guard)
    server = ServerThread(app).start()
    try:
        gw = gateway_factory(classifier=f"vllm+{server.url}/v1", classifier_timeout_s=2)
        app.down = True
        r = gw.openai().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "西湖在哪里"}]
        )
        assert r.choices[0].finish_reason == "content_filter"  # the test policy fails closed
        ready = gw.http().get("/readyz")
        assert ready.status_code == 200  # a shared classifier does not empty the Service
        assert ready.json()["classifier"]["health"]["status"] == "down"
    finally:
        server.stop()
