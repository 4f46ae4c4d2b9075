"""The seam between the gateway and any model-based classifier.

``gateway/`` never imports torch; implementations live in ``models/`` (local batched
inference, remote HTTP) and are loaded by name at start-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

Scores = dict[str, float]  # taxonomy code -> probability in [0, 1]


@runtime_checkable
class Classifier(Protocol):
    async def classify(
        self,
        texts: Sequence[str],
        direction: str | None = None,
        *,
        normalized: Sequence[str] | None = None,
    ) -> list[Scores]:
        """Scores for each text, in order. ``direction`` is ``"input"`` (user prompts) or
        ``"output"`` (model answers) when known; models trained with direction markers use
        it, others ignore it. ``normalized``, when given, holds each text already through
        the gateway's default normalization (the pipeline normalizes once for keywords and
        model alike); a model trained on normalized text uses it instead of normalizing
        again, others ignore it. Raises ``ClassifierUnavailable`` on overload or failure so
        the policy's fail-open / fail-closed rule can apply."""
        ...

    def info(self) -> dict[str, str]:
        """What ``/readyz`` shows: at least ``name``, ``path``, ``device``, ``dtype``, ``version``."""
        ...

    async def aclose(self) -> None: ...


class ClassifierUnavailable(Exception):
    """The classifier cannot answer now (queue full, model error, remote down)."""


@runtime_checkable
class HealthReporting(Protocol):
    """A classifier served elsewhere says whether its server answers now."""

    async def health(self) -> dict[str, str]:
        """``{"status": "ok"}`` or ``{"status": "down", "detail": ...}``, within about a
        second (a readiness probe waits for it)."""
        ...


async def describe(*classifiers: Classifier | None) -> list[dict[str, Any] | str]:
    """What ``/readyz`` shows of each classifier: ``info()``, plus ``health`` where the
    classifier reports it (checked concurrently), or ``"none"``."""

    async def one(clf: Classifier | None) -> dict[str, Any] | str:
        if clf is None:
            return "none"
        out: dict[str, Any] = dict(clf.info())
        if isinstance(clf, HealthReporting):
            out["health"] = await clf.health()
        return out

    return list(await asyncio.gather(*(one(c) for c in classifiers)))
