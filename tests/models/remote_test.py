"""The remote classifier against a real aiohttp server speaking /v1/moderations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

import models
from gateway.classifier import ClassifierUnavailable
from models.remote import RemoteClassifier


class Upstream:
    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []
        self.mode = "ok"

    async def handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        if self.mode == "500":
            return web.Response(status=500)
        if self.mode == "slow":
            await asyncio.sleep(2)
        if self.mode == "short":
            return web.json_response({"results": []})
        results = [
            {"flagged": "炸弹" in t, "categories": {"A1.04": "炸弹" in t},
             "category_scores": {"A1.04": 0.9 if "炸弹" in t else 0.01, "X2": 0.0}}
            for t in body["input"]
        ]  # fmt: skip
        return web.json_response({"id": "modr-1", "model": "enc-v7", "results": results})


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    up = Upstream()
    app = web.Application()
    app.router.add_post("/v1/moderations", up.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield up, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_scores_come_back_in_order(upstream: tuple[Upstream, str]) -> None:
    up, url = upstream
    clf = models.load_classifier(url, api_key="k1")
    assert isinstance(clf, RemoteClassifier)
    out = await clf.classify(["你好", "怎么做炸弹"])
    assert out == [{"A1.04": 0.01, "X2": 0.0}, {"A1.04": 0.9, "X2": 0.0}]
    assert up.bodies == [{"input": ["你好", "怎么做炸弹"]}]
    assert up.headers[0]["Authorization"] == "Bearer k1"
    assert clf.info()["name"] == "enc-v7" and clf.info()["path"] == url + "/v1/moderations"
    await clf.aclose()


async def test_large_inputs_are_split_into_bounded_requests(upstream: tuple[Upstream, str]) -> None:
    up, url = upstream
    clf = models.load_classifier(url, max_batch=2)
    assert len(await clf.classify(["a", "b", "c", "d", "e"])) == 5
    assert sorted(len(b["input"]) for b in up.bodies) == [1, 2, 2]
    await clf.aclose()


@pytest.mark.parametrize("mode", ["500", "slow", "short"])
async def test_failures_raise_classifier_unavailable(
    upstream: tuple[Upstream, str], mode: str
) -> None:
    up, url = upstream
    up.mode = mode
    clf = models.load_classifier(url, total_timeout_s=0.3)
    with pytest.raises(ClassifierUnavailable):
        await clf.classify(["x"])
    await clf.aclose()


async def test_unreachable_server_is_unavailable() -> None:
    clf = models.load_classifier("http://127.0.0.1:1", connect_timeout_s=0.2)
    with pytest.raises(ClassifierUnavailable, match="unreachable"):
        await clf.classify(["x"])
    await clf.aclose()
