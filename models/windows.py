"""Split long token sequences into overlapping windows.

A text longer than the model's largest length bucket is scored as the maximum over its
windows, so harmful content late in a long text is not truncated away. The overlap keeps a
phrase that straddles a window edge whole in at least one window.
"""

from __future__ import annotations

from collections.abc import Sequence


def split(ids: Sequence[int], size: int, overlap: int) -> list[list[int]]:
    """Windows of at most ``size`` ids; consecutive windows share ``overlap`` ids.

    An empty sequence yields one empty window, so every text is scored exactly once.
    """
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got {size=} {overlap=}")
    if len(ids) <= size:
        return [list(ids)]
    step = size - overlap
    out: list[list[int]] = []
    start = 0
    while True:
        out.append(list(ids[start : start + size]))
        if start + size >= len(ids):
            return out
        start += step
