"""Static shapes and windows: pure planners, and the shape bound on a real tiny model."""

from __future__ import annotations

import asyncio
import itertools
import random
from pathlib import Path

import pytest

import models
from models.local import LocalClassifier
from models.shapes import Chunk, ShapePlan, plan, shape_bound
from models.windows import split
from tests.support.models import encoder_dir  # noqa: F401

PLAN = ShapePlan((16, 32, 64, 128), (1, 2, 4, 8), call_cost=64)


@pytest.mark.parametrize(
    ("lengths", "expected"),
    [
        ([], []),
        ([5], [Chunk((0,), 1, 16)]),
        ([5, 6, 7], [Chunk((0, 1, 2), 4, 16)]),  # one padding row beats a second call
        ([100, 5], [Chunk((1,), 1, 16), Chunk((0,), 1, 128)]),  # 16 + 128 + 2 x 64 < 2 x 128 + 64
        ([20, 5], [Chunk((1, 0), 2, 32)]),
        (list(range(1, 10)), [Chunk((0,), 1, 16), Chunk(tuple(range(1, 9)), 8, 16)]),
    ],
)
def test_plan_table(lengths: list[int], expected: list[Chunk]) -> None:
    assert plan(lengths, PLAN) == expected


def test_plan_covers_every_row_once_with_allowed_shapes() -> None:
    rng = random.Random(7)
    for _ in range(200):
        lengths = [rng.randint(1, 128) for _ in range(rng.randint(1, 40))]
        chunks = plan(lengths, PLAN)
        assert sorted(i for c in chunks for i in c.rows) == list(range(len(lengths)))
        for c in chunks:
            assert c.batch in PLAN.batch_sizes and len(c.rows) <= c.batch
            assert c.length in PLAN.length_buckets
            assert max(lengths[i] for i in c.rows) <= c.length


def test_shape_plan_rejects_bad_sets() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        ShapePlan((16,), (2, 4))
    with pytest.raises(ValueError, match="ascending"):
        ShapePlan((32, 16), (1,))
    with pytest.raises(ValueError, match="exceeds the largest bucket"):
        PLAN.bucket_length(129)


@pytest.mark.parametrize(
    ("n", "size", "overlap", "expected"),
    [
        (0, 4, 1, [[]]),
        (4, 4, 1, [[0, 1, 2, 3]]),
        (5, 4, 1, [[0, 1, 2, 3], [3, 4]]),
        (10, 4, 2, [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]),
    ],
)
def test_windows_overlap(n: int, size: int, overlap: int, expected: list[list[int]]) -> None:
    assert split(list(range(n)), size, overlap) == expected


def test_windows_reject_overlap_not_below_size() -> None:
    with pytest.raises(ValueError):
        split([1, 2], 2, 2)


async def test_distinct_shapes_stay_within_buckets_times_sizes(encoder_dir: Path) -> None:  # noqa: F811
    clf = models.load_classifier(
        str(encoder_dir), device="cpu", cache_size=0, max_wait_us=500,
        length_buckets=(8, 16, 32), batch_sizes=(1, 2, 4, 8), call_cost=0,
    )  # fmt: skip
    assert isinstance(clf, LocalClassifier)
    adapter = clf.adapter
    rng = random.Random(3)
    alphabet = "abcdefg你好世界。，"

    async def caller() -> None:
        for _ in range(6):
            n = rng.choice([0, 3, 9, 20, 40, 61, 150])  # 150 > 64: windowed
            batch = ["".join(rng.choices(alphabet, k=n)) for _ in range(rng.randint(1, 3))]
            assert len(await clf.classify(batch)) == len(batch)

    await asyncio.gather(*(caller() for _ in range(12)))
    allowed = set(itertools.product(adapter.shapes.batch_sizes, adapter.shapes.length_buckets))
    assert adapter.shapes.length_buckets == (8, 16, 32, 64)  # the model's own limit added
    assert adapter.shapes_seen <= allowed
    assert len(adapter.shapes_seen) <= shape_bound(adapter.shapes) == 16
    assert len(adapter.shapes_seen) > 3  # the workload really did vary the shapes
    await clf.aclose()
