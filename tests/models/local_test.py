"""LocalClassifier: long texts are featurized off the event loop, short ones on it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import ClassVar

from models.batcher import Row, RowResult
from models.local import OFF_LOOP_CHARS, LocalClassifier
from models.shapes import ShapePlan


class RecordingAdapter:
    """Scores a window by its length; records the thread each text was encoded on."""

    normalizes_text = False
    direction_markers: ClassVar[dict[str, str]] = {}
    shapes = ShapePlan((64, 256), (1, 8, 32))

    def __init__(self) -> None:
        self.encoded_on: dict[int, str] = {}

    def encode(self, text: str) -> list[Row]:
        self.encoded_on[len(text)] = threading.current_thread().name
        return [[1] * min(256, len(text[i : i + 256])) for i in range(0, len(text), 256)]

    def run(self, rows: Sequence[Row]) -> list[RowResult]:
        return [{"A1.04": len(r) / 256} for r in rows]

    def warmup(self) -> None:
        pass

    def info(self) -> dict[str, str]:
        return {"name": "rec", "version": "1", "device": "cpu", "dtype": "float32"}


async def test_a_long_text_is_encoded_on_a_helper_thread_and_a_short_one_on_the_loop() -> None:
    adapter = RecordingAdapter()
    clf = LocalClassifier(adapter)
    loop_thread = threading.current_thread().name
    try:
        short, long = "短" * 40, "长" * (OFF_LOOP_CHARS + 1)
        scores = await clf.classify([short, long])
        assert scores[0]["A1.04"] == 40 / 256 and scores[1]["A1.04"] == 1.0
        assert adapter.encoded_on[len(long)] != loop_thread
        # the batch as a whole decides: both were encoded together, off the loop
        assert adapter.encoded_on[len(short)] == adapter.encoded_on[len(long)]
        await clf.classify(["只有短的" * 3])
        assert adapter.encoded_on[12] == loop_thread
    finally:
        await clf.aclose()
