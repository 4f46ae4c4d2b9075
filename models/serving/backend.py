"""What each serving protocol implements, and the score helpers the encoder protocols share.

A backend is the protocol core: it builds request bodies and turns answers into taxonomy
scores, with no sockets of its own (``Transport`` does the I/O). ``discover`` runs once
before the first call: it reads what the server says about its model (name, labels, limits)
and fails with a clear message when the configuration cannot work with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gateway.classifier import Scores
from models import labels
from models.serving.batching import CallResult
from models.serving.transport import Transport

ScoreMode = str  # "as-is" | "sigmoid" | "softmax"
SCORE_MODES = ("as-is", "sigmoid", "softmax")


class Backend(Protocol):
    kind: str  # gateway.metrics.REMOTE_BACKENDS
    max_batch: int  # texts per call the protocol and server allow
    window_chars: int | None  # texts longer than this are scored in slices; None: whole
    uses_direction: bool  # the answer depends on whether a text is a prompt or an answer

    async def discover(self, http: Transport) -> None: ...

    def request(self, texts: list[str], direction: str | None) -> tuple[str, Any]:
        """The URL to POST to and the JSON body for these texts."""
        ...

    def parse(self, doc: Any, n: int) -> list[CallResult]:
        """Scores per text from the decoded answer; ``ValueError`` (or a ``KeyError`` /
        ``TypeError`` / ``IndexError`` of a wrong shape) when it is malformed."""
        ...

    def health_url(self) -> str: ...

    def describe(self) -> dict[str, str]:
        """``name`` and ``version`` of the served model, as far as the server said (empty
        before ``discover``)."""
        ...


def activate(values: Sequence[float], mode: ScoreMode) -> list[float]:
    """Scores from a model's outputs: as the server sent them, or through a sigmoid (one
    independent probability per label) or a softmax (labels exclusive)."""
    if mode == "sigmoid":
        return [1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, v)))) for v in values]
    if mode == "softmax":
        top = max(values, default=0.0)
        exps = [math.exp(v - top) for v in values]
        total = sum(exps) or 1.0
        return [e / total for e in exps]
    return [float(v) for v in values]


def check_score_mode(mode: str) -> ScoreMode:
    if mode not in SCORE_MODES:
        raise ValueError(f"scores={mode!r}: expected one of {', '.join(SCORE_MODES)}")
    return mode


class Columns:
    """Taxonomy codes for the columns of a score vector (vLLM /classify, KServe tensors).

    Column ``i`` is called ``labels[i]`` when ``labels`` names them, else ``"i"``; each name
    is mapped through the label map (or is a code itself, or an ignored name such as
    ``safe``). Validated once per column count, so a label without a code is an error the
    first time it is seen, never a silently dropped category."""

    def __init__(self, names: Sequence[str], label_map: Mapping[str, tuple[str, ...]]) -> None:
        self._names = tuple(names)
        self._map = label_map
        self._pairs: dict[int, list[tuple[int, str]]] = {}
        if self._names:
            self.pairs(len(self._names))  # configuration errors show at start-up

    def pairs(self, k: int) -> list[tuple[int, str]]:
        found = self._pairs.get(k)
        if found is None:
            if self._names and len(self._names) != k:
                raise ValueError(
                    f"the model answered {k} scores, but labels= names {len(self._names)}"
                )
            names = self._names or tuple(str(i) for i in range(k))
            found = self._pairs[k] = labels.index_to_codes(dict(enumerate(names)), self._map)
        return found

    def scores(self, values: Sequence[float], mode: ScoreMode) -> Scores:
        out: Scores = {}
        probs = activate(values, mode)
        for i, code in self.pairs(len(probs)):
            if probs[i] > out.get(code, -1.0):
                out[code] = probs[i]
        return out


def split_labels(value: str | None) -> tuple[str, ...]:
    """``labels=safe,A1.04,A1.06`` as a tuple (empty when not given)."""
    return tuple(n.strip() for n in value.split(",")) if value else ()
