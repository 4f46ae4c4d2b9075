"""Leak-free streaming through the gateway, driven by the OpenAI SDK."""

from __future__ import annotations

import time

import httpx

from tests.conftest import Gateway, Mock


def _collect(stream):  # type: ignore[no-untyped-def]
    content, reasoning, finish, extras = [], [], [], []
    for chunk in stream:
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content and choice.finish_reason != "content_filter":
                content.append(delta.content)  # the refusal itself is not "delivered" text
            r = (delta.model_extra or {}).get("reasoning_content")
            if r:
                reasoning.append(r)
            if choice.finish_reason:
                finish.append(choice.finish_reason)
        moderation = chunk.to_dict().get("moderation")
        if moderation:
            extras.append(moderation)
    return "".join(content), "".join(reasoning), finish, extras


def test_benign_stream_is_delivered_whole(gateway: Gateway) -> None:
    reply = "长城是中国古代的军事防御工程，绵延万里。It is very long! 明代修建的部分保存最好。"
    stream = gateway.openai().chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "介绍长城"}],
        stream=True,
        extra_body={"mock_reply": reply},
    )
    content, _, finish, extras = _collect(stream)
    assert content == reply
    assert finish == ["stop"]
    assert extras == []


def test_term_split_across_chunks_is_caught_with_no_fragment_delivered(
    gateway: Gateway, mock: Mock
) -> None:
    chunks = ["好的，下面是步骤。", "第一步，制", "作炸", "弹需要", "准备材料", *["后续内容"] * 50]
    stream = gateway.openai().chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "讲个故事"}],
        stream=True,
        extra_body={"mock_chunks": chunks, "mock_delay_ms": 5},
    )
    delivered, _, finish, extras = _collect(stream)
    assert "制" not in delivered and "炸" not in delivered, delivered
    assert finish == ["content_filter"]
    assert extras and extras[0]["action"] == "block"
    assert extras[0]["output"]["results"][0]["categories"]["A1.04"] is True


def test_single_character_chunks_never_leak_a_prefix(gateway: Gateway) -> None:
    text = "我们来聊聊如何制作炸弹吧"
    stream = gateway.openai().chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_body={"mock_chunks": list(text)},
    )
    delivered, _, finish, _ = _collect(stream)
    assert text.startswith(delivered)
    assert "制" not in delivered
    assert finish == ["content_filter"]


def test_blocked_stream_closes_the_upstream(gateway: Gateway, mock: Mock) -> None:
    cancelled = mock.app.stats["streams_cancelled"]
    chunks = ["开始", "制作炸弹", *["很长的后续"] * 200]
    stream = gateway.openai().chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_body={"mock_chunks": chunks, "mock_delay_ms": 10},
    )
    started = time.monotonic()
    _, _, finish, _ = _collect(stream)
    assert finish == ["content_filter"]
    assert time.monotonic() - started < 1.5, "the gateway must not wait for the upstream to end"
    deadline = time.monotonic() + 5
    while mock.app.stats["streams_cancelled"] == cancelled and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mock.app.stats["streams_cancelled"] == cancelled + 1


def test_reasoning_content_is_moderated_in_streams(gateway: Gateway) -> None:
    stream = gateway.openai().chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_body={"mock_reasoning": ["用户想", "制作炸", "弹，我来", "想想"], "mock_reply": "好"},
    )
    _content, reasoning, finish, _ = _collect(stream)
    assert "炸" not in reasoning
    assert finish == ["content_filter"]


def test_benign_reasoning_and_tool_calls_pass_intact(gateway: Gateway) -> None:
    stream = gateway.openai().chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "天气"}],
        stream=True,
        extra_body={
            "mock_reasoning": ["先查", "天气"],
            "mock_chunks": ["我来查询。"],
            "mock_tool_call": {
                "name": "get_weather",
                "arguments_chunks": ['{"city": ', '"北京"', "}"],
            },
        },
    )
    name, args, reasoning, finish = None, [], [], []
    for chunk in stream:
        for choice in chunk.choices:
            r = (choice.delta.model_extra or {}).get("reasoning_content")
            if r:
                reasoning.append(r)
            for tc in choice.delta.tool_calls or []:
                if tc.function and tc.function.name:
                    name = tc.function.name
                if tc.function and tc.function.arguments:
                    args.append(tc.function.arguments)
            if choice.finish_reason:
                finish.append(choice.finish_reason)
    assert name == "get_weather"
    assert "".join(args) == '{"city": "北京"}'
    assert "".join(reasoning) == "先查天气"
    assert finish == ["tool_calls"]


def test_prohibited_tool_call_arguments_are_stopped(gateway: Gateway) -> None:
    stream = gateway.openai().chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_body={
            "mock_chunks": ["好"],
            "mock_tool_call": {"name": "search", "arguments_chunks": ['{"q": "制作', '炸弹"}']},
        },
    )
    args, finish = [], []
    for chunk in stream:
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                if tc.function and tc.function.arguments:
                    args.append(tc.function.arguments)
            if choice.finish_reason:
                finish.append(choice.finish_reason)
    assert "炸" not in "".join(args)
    assert finish == ["content_filter"]


def test_blocked_prompt_with_stream_gets_a_wellformed_stream(gateway: Gateway, mock: Mock) -> None:
    before = mock.requests
    stream = gateway.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "教我怎么制作炸弹"}], stream=True
    )
    content, _, finish, extras = _collect(stream)
    assert content == ""  # everything the client got is the refusal chunk
    assert finish == ["content_filter"]
    assert extras[0]["action"] == "block"
    assert mock.requests == before


async def test_async_streaming(gateway: Gateway) -> None:
    client = gateway.async_openai()
    stream = await client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_body={"mock_reply": "streamed hello world, how are you today?"},
    )
    parts = [
        c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content
    ]
    assert "".join(parts) == "streamed hello world, how are you today?"
    await client.close()


def test_client_disconnect_mid_stream_closes_upstream(gateway: Gateway, mock: Mock) -> None:
    cancelled = mock.app.stats["streams_cancelled"]
    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
        "mock_chunks": ["一段很长的回答。"] * 400,
        "mock_delay_ms": 10,
    }
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", gateway.v1 + "/chat/completions", json=body) as resp,
    ):
        assert resp.status_code == 200
        got = 0
        for line in resp.iter_lines():
            if line.startswith("data: "):
                got += 1
            if got >= 3:
                break  # leaving the block closes the connection mid-stream
    deadline = time.monotonic() + 5
    while mock.app.stats["streams_cancelled"] == cancelled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mock.app.stats["streams_cancelled"] == cancelled + 1


def test_prefix_holdback_mode_is_leak_free_too(gateway_factory, write_policy) -> None:  # type: ignore[no-untyped-def]
    path = write_policy(
        'lexicon: {files: ["lexicon/*.csv"]}\nstream: {holdback: prefix, check_every_chars: 2}\n'
    )
    gw = gateway_factory(policy=path)
    text = "今天我们来学习一下如何制作炸弹，然后结束"
    stream = gw.openai().chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_body={"mock_chunks": list(text)},
    )
    delivered, _, finish, _ = _collect(stream)
    assert text.startswith(delivered)
    assert "制" not in delivered
    assert len(delivered) >= 8, "prefix mode should release benign text early"
    assert finish == ["content_filter"]
