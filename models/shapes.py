"""Static shapes: pad sequence lengths to a few buckets and batches to a few sizes.

Graph compilers (HPU graphs, CUDA graphs, ``torch.compile``) build one graph per input
shape, and oneDNN caches kernels per shape, so the number of distinct shapes a workload can
produce must stay small: at most ``len(length_buckets) * len(batch_sizes)``. This module is
pure (no torch); adapters call :func:`plan` and pad to what it returns.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ShapePlan:
    """The allowed sequence lengths and batch sizes, both ascending.

    ``call_cost`` is what one extra model call costs, in padded tokens: the planner splits a
    batch into several calls only when that saves more padding than this. CPUs pay for every
    padding token, so a small value suits them; GPUs want few, large calls.
    """

    length_buckets: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    call_cost: int = 256

    def __post_init__(self) -> None:
        for name, seq in (
            ("length_buckets", self.length_buckets),
            ("batch_sizes", self.batch_sizes),
        ):
            if not seq or list(seq) != sorted(set(seq)) or seq[0] < 1:
                raise ValueError(f"{name} must be strictly ascending positive integers: {seq}")
        if self.batch_sizes[0] != 1:
            raise ValueError("batch_sizes must start at 1 so any row count can be served")
        if self.call_cost < 0:
            raise ValueError("call_cost must be >= 0")

    @property
    def max_length(self) -> int:
        return self.length_buckets[-1]

    @property
    def max_batch(self) -> int:
        return self.batch_sizes[-1]

    def bucket_length(self, n: int) -> int:
        """The smallest bucket that holds ``n`` tokens (rows are windowed to fit the largest)."""
        i = bisect.bisect_left(self.length_buckets, n)
        if i == len(self.length_buckets):
            raise ValueError(f"row of {n} tokens exceeds the largest bucket {self.max_length}")
        return self.length_buckets[i]

    def bucket_batch(self, n: int) -> int:
        i = bisect.bisect_left(self.batch_sizes, n)
        return self.batch_sizes[min(i, len(self.batch_sizes) - 1)]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One model call: ``rows`` (indices into the caller's list) padded to ``batch`` x ``length``."""

    rows: tuple[int, ...]
    batch: int
    length: int


def plan(lengths: Sequence[int], shapes: ShapePlan) -> list[Chunk]:
    """Split rows of the given token lengths into model calls of allowed shapes.

    Rows are sorted by length, then cut into contiguous chunks that minimise the padded
    tokens computed (batch size padded up x length bucket) plus ``call_cost`` per call: a short
    row is not padded to a long neighbour's bucket unless a separate call would cost more.
    Exact dynamic programming over at most ``max_batch`` predecessors per row.
    """
    n = len(lengths)
    order = sorted(range(n), key=lengths.__getitem__)
    cap = shapes.max_batch
    batch_of = [0] + [shapes.bucket_batch(k) for k in range(1, cap + 1)]
    length_of = [shapes.bucket_length(lengths[i]) for i in order]
    best = [0] + [0] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        longest = length_of[end - 1]  # sorted: the chunk's last row is its longest
        cost, start = min(
            (best[s] + batch_of[end - s] * longest + shapes.call_cost, s)
            for s in range(max(0, end - cap), end)
        )
        best[end], cut[end] = cost, start
    chunks: list[Chunk] = []
    end = n
    while end > 0:
        start = cut[end]
        rows = tuple(order[start:end])
        chunks.append(Chunk(rows=rows, batch=batch_of[end - start], length=length_of[end - 1]))
        end = start
    chunks.reverse()
    return chunks


def shape_bound(shapes: ShapePlan) -> int:
    """The most distinct (batch, length) input shapes any workload can produce."""
    return len(shapes.length_buckets) * len(shapes.batch_sizes)
