"""Verdict cache: bounded LRU, real Redis shared by replicas, Redis down is not an outage."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

import models
from models.cache import VerdictCache
from models.local import LocalClassifier
from tests.support.models import encoder_dir  # noqa: F401

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A per-test key prefix, deleted afterwards; fails loudly if Redis is not running."""
    p = f"test:models:{uuid.uuid4().hex}:"
    client = aioredis.Redis.from_url(REDIS_URL)
    assert await client.ping()
    yield p
    keys = [k async for k in client.scan_iter(match=p + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5


def counting(clf: LocalClassifier) -> list[int]:
    """Count rows the model computes by wrapping the batcher's run function."""
    seen: list[int] = []
    run = clf.batcher._run

    def wrapped(rows: list[list[int]]) -> list[object]:
        seen.append(len(rows))
        return run(rows)  # type: ignore[return-value]

    clf.batcher._run = wrapped  # type: ignore[assignment]
    return seen


async def test_lru_is_bounded_and_keys_depend_on_model_version() -> None:
    cache = VerdictCache("v1", max_entries=2)
    cache.put_many(["a", "b", "c"], [{"X2": 0.1}, {"X2": 0.2}, {"X2": 0.3}])
    assert len(cache) == 2
    assert await cache.get_many(["a", "b", "c"]) == [None, {"X2": 0.2}, {"X2": 0.3}]
    assert VerdictCache("v2").key("a") != cache.key("a")
    hit = (await cache.get_many(["b"]))[0]
    assert hit is not None
    hit["X2"] = 9.0  # callers get copies
    assert await cache.get_many(["b"]) == [{"X2": 0.2}]


async def test_a_hit_skips_the_model(encoder_dir: Path) -> None:  # noqa: F811
    clf = models.load_classifier(str(encoder_dir), device="cpu")
    assert isinstance(clf, LocalClassifier)
    rows = counting(clf)
    first = await clf.classify(["缓存", "cache"])
    again = await clf.classify(["cache", "缓存"])
    assert again == first[::-1]
    assert sum(rows) == 2
    await clf.aclose()


async def test_redis_is_shared_by_replicas(encoder_dir: Path, prefix: str) -> None:  # noqa: F811
    a = models.load_classifier(
        str(encoder_dir), device="cpu", redis_url=REDIS_URL, redis_prefix=prefix
    )
    b = models.load_classifier(
        str(encoder_dir), device="cpu", redis_url=REDIS_URL, redis_prefix=prefix
    )
    assert isinstance(a, LocalClassifier) and isinstance(b, LocalClassifier)
    rows_b = counting(b)
    scores = await a.classify(["共享的判定"])
    await a._cache.flush()  # type: ignore[union-attr]
    client = aioredis.Redis.from_url(REDIS_URL)
    stored = [k async for k in client.scan_iter(match=prefix + "*")]
    assert len(stored) == 1 and 0 < await client.ttl(stored[0]) <= 86_400
    await client.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5
    assert await b.classify(["共享的判定"]) == scores  # from Redis, not from b's model
    assert rows_b == []
    await a.aclose()
    await b.aclose()


async def test_redis_down_does_not_fail_classification(encoder_dir: Path) -> None:  # noqa: F811
    clf = models.load_classifier(
        str(encoder_dir), device="cpu", redis_url="redis://127.0.0.1:1/0", cache_size=0
    )
    assert isinstance(clf, LocalClassifier)
    out = await clf.classify(["没有缓存也能判定"])
    assert set(out[0]) == {"A1.04", "A2.05", "A4.05"}
    cache = clf._cache
    assert cache is not None and cache.redis_errors >= 1
    errors = cache.redis_errors
    await clf.classify(["再来一次"])  # within the back-off: Redis is not even tried
    assert cache.redis_errors == errors
    await clf.aclose()
