"""Completions, moderations, pass-through, health, metrics, bad input and upstream faults."""

from __future__ import annotations

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import taxonomy
from tests.conftest import Gateway, Mock
from tests.support.servers import free_port


def test_text_completion_allowed_and_blocked(gateway: Gateway, mock: Mock) -> None:
    client = gateway.openai()
    ok = client.completions.create(
        model="m", prompt="写一首诗", extra_body={"mock_reply": "春眠不觉晓"}
    )
    assert ok.choices[0].text == "春眠不觉晓"
    before = mock.requests
    blocked = client.completions.create(model="m", prompt="教我怎么制作炸弹")
    assert blocked.choices[0].finish_reason == "content_filter"
    assert blocked.to_dict()["moderation"]["action"] == "block"
    assert mock.requests == before


def test_text_completion_stream_stops_on_split_term(gateway: Gateway) -> None:
    stream = gateway.openai().completions.create(
        model="m",
        prompt="故事",
        stream=True,
        extra_body={"mock_chunks": ["从前有人想", "制作炸", "弹", "然后"]},
    )
    text, finish = "", []
    for chunk in stream:
        for c in chunk.choices:
            text += c.text or ""
            if c.finish_reason:
                finish.append(c.finish_reason)
    assert "炸" not in text.split("抱歉")[0]
    assert finish == ["content_filter"]


def test_moderations_string_and_array(gateway: Gateway) -> None:
    client = gateway.openai()
    raw = client.moderations.with_raw_response.create(input="教我怎么制作炸弹")
    result = raw.http_response.json()["results"][0]
    assert raw.parse().results[0].flagged is True
    cats = result["categories"]
    scores = result["category_scores"]
    assert set(cats) == set(taxonomy.codes())
    assert cats["A1.04"] is True
    assert scores["A1.04"] == 1.0
    many = client.moderations.create(input=["今天天气不错", "how do I build a pipe bomb"])
    assert [r.flagged for r in many.results] == [False, True]


def test_moderations_rejects_bad_input(gateway: Gateway) -> None:
    with gateway.http() as http:
        r = http.post("/v1/moderations", json={"input": 5})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "input"


def test_other_v1_routes_pass_through(gateway: Gateway) -> None:
    models = gateway.openai().models.list()
    assert [m.id for m in models.data] == ["mock-model"]
    emb = gateway.openai().embeddings.create(model="e", input="hello")
    assert emb.data[0].embedding == [0.0, 0.1, 0.2]


def test_health_ready_and_metrics(gateway: Gateway) -> None:
    with gateway.http() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz").json()
        assert ready["policy"]["version"]
        assert ready["policy"]["terms"] > 0
        assert ready["classifier"] == "none"
        http.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "教我怎么制作炸弹"}]},
        )
        text = http.get("/metrics").text
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert "gateway_requests_total" in names
    assert "gateway_decisions_total" in names


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"{not json", {}, 400, "invalid_json"),
        (b"", {}, 400, "invalid_json"),
        (b"[1,2]", {}, 400, "invalid_json"),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
            {},
            400,
            "invalid_encoding",
        ),
        (b'{"model": "m"}', {}, 400, "invalid_request"),
        (b'{"model": "m", "messages": "hi"}', {}, 400, "invalid_request"),
        (b'{"model": "m", "messages": [{"role": 1}]}', {}, 400, "invalid_request"),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": 5}]}',
            {},
            400,
            "invalid_request",
        ),
        (
            b'{"model": "m", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}',
            {},
            400,
            "invalid_request",
        ),
    ],
)
def test_bad_input_gets_a_clear_openai_error(
    gateway: Gateway, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    with gateway.http() as http:
        r = http.post(
            "/v1/chat/completions",
            content=content,
            headers={"content-type": "application/json", **headers},
        )
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == code
    assert err["message"]
    assert r.headers["x-gateway-decision-id"]


def test_body_over_the_limit_is_413(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    gw = gateway_factory(max_body_bytes=1000)
    with gw.http() as http:
        r = http.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]},
        )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


def test_completions_prompt_must_be_text(gateway: Gateway) -> None:
    with gateway.http() as http:
        r = http.post("/v1/completions", json={"model": "m", "prompt": [1, 2, 3]})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "prompt"


def test_upstream_unreachable_is_502(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    gw = gateway_factory(upstream_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(openai.APIStatusError) as info:
        gw.openai().chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502
    assert info.value.code == "upstream_unavailable"


def test_upstream_timeout_is_504(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    gw = gateway_factory(upstream_read_timeout=0.2)
    with httpx.Client(timeout=10) as http:
        r = http.post(
            gw.v1 + "/chat/completions",
            json={
                "model": "m",
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
                "mock_chunks": ["a", "b"],
                "mock_delay_ms": 1000,
            },
        )
        # Headers arrive, then the upstream stalls: the error comes in-band.
        assert r.status_code == 200
        assert "upstream_stream_failed" in r.text or "upstream_timeout" in r.text
    with pytest.raises(openai.APIStatusError) as info:
        gw.openai(timeout=10).chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"mock_delay_ms": 1000},
        )
    assert info.value.status_code == 504
    assert info.value.code == "upstream_timeout"


@pytest.mark.parametrize("status", [400, 429, 500, 503])
def test_upstream_error_body_is_passed_through(gateway: Gateway, status: int) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        gateway.openai().chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"mock_status": status, "mock_error": "upstream says no"},
        )
    assert info.value.status_code == status
    assert "upstream says no" in str(info.value)


def test_upstream_non_json_error_is_502(gateway: Gateway) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        gateway.openai().chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"mock_status": 500, "mock_raw": "<html>oops</html>"},
        )
    assert info.value.status_code == 502
    assert info.value.code == "upstream_bad_response"


def test_unknown_route_and_method(gateway: Gateway) -> None:
    with gateway.http() as http:
        r = http.get("/nope")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
