"""What the batcher needs from a local model, whatever its kind.

Adapters own a tokenizer and a model. ``encode`` runs on the event loop (cheap: a fast
tokenizer over one text, split into windows); ``run`` runs on the model thread and pads rows
to the shapes of its :class:`~models.shapes.ShapePlan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from models.batcher import Row, RowResult
from models.shapes import ShapePlan


class Adapter(Protocol):
    shapes: ShapePlan
    shapes_seen: set[tuple[int, int]]  # (batch, length) of every model call so far
    # "input" / "output" -> the marker text the model was trained with in front of prompts /
    # answers; empty for models without markers.
    direction_markers: dict[str, str]
    # True when the model was trained on gateway-normalized text (gateway.lexicon.normalize).
    normalizes_text: bool

    def encode(self, text: str) -> list[Row]:
        """The rows (windows with special tokens) one text is scored from."""
        ...

    def run(self, rows: Sequence[Row]) -> list[RowResult]:
        """Scores per row, in order; called only from the model thread."""
        ...

    def warmup(self) -> None:
        """Run every allowed shape once (graph capture / compilation happens here)."""
        ...

    def info(self) -> dict[str, str]: ...
