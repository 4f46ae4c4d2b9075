"""The local classifier: verdict cache, then the dynamic batcher, then a model adapter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from gateway.classifier import ClassifierUnavailable, Scores
from gateway.lexicon.normalize import normalize
from gateway.metrics import Metrics
from models.adapter import Adapter
from models.batcher import Batcher, BatchLimits, Row
from models.cache import VerdictCache

# Texts longer than this (in total) are encoded on a helper thread: featurizing 200,000
# characters takes tens of milliseconds, which on the event loop would stall every other
# request. Below it the hop costs more than it saves (~50 us against ~0.1 ms a short text).
OFF_LOOP_CHARS = 8192


class LocalClassifier:
    """``await classify(texts)`` over a model in this process; implements ``Classifier``."""

    def __init__(
        self,
        adapter: Adapter,
        *,
        limits: BatchLimits | None = None,
        cache: VerdictCache | None = None,
        metrics: Metrics | None = None,
        request_timeout_s: float = 30.0,
    ) -> None:
        self.adapter = adapter
        self._cache = cache
        self._timeout = request_timeout_s
        self.batcher = Batcher(
            adapter.run, pad_length=adapter.shapes.bucket_length, limits=limits, metrics=metrics
        )
        if metrics is not None:
            i = adapter.info()
            metrics.classifier_model_info.labels(
                name=i["name"], version=i["version"], device=i["device"], dtype=i["dtype"]
            ).set(1)

    async def classify(
        self,
        texts: Sequence[str],
        direction: str | None = None,
        *,
        normalized: Sequence[str] | None = None,
    ) -> list[Scores]:
        """Scores per text, in order; ``ClassifierUnavailable`` on overload, failure or timeout.

        A model trained on normalized text gets normalized text; a model with direction
        markers sees its marker in front of each text. What the model sees is also the cache
        key, so a prompt and an answer with the same words never share a verdict."""
        if not texts:
            return []
        if self.adapter.normalizes_text:
            if normalized is not None and len(normalized) == len(texts):
                texts = list(normalized)  # the pipeline's, with the same default rules
            else:
                texts = [normalize(t).text for t in texts]
        marker = self.adapter.direction_markers.get(direction or "")
        if marker:
            texts = [f"{marker} {t}" for t in texts]
        results: list[Scores | None] = (
            await self._cache.get_many(texts) if self._cache is not None else [None] * len(texts)
        )
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            pending = [texts[i] for i in todo]
            computed = await self._compute(pending)
            for i, scores in zip(todo, computed, strict=True):
                results[i] = scores
            if self._cache is not None:
                self._cache.put_many(pending, computed)
        return results  # type: ignore[return-value]  # every slot is filled above

    def info(self) -> dict[str, str]:
        return self.adapter.info()

    async def aclose(self) -> None:
        await self.batcher.aclose()
        if self._cache is not None:
            await self._cache.aclose()

    async def _compute(self, texts: list[str]) -> list[Scores]:
        encode: Callable[[str], list[Row]] = self.adapter.encode
        if sum(map(len, texts)) > OFF_LOOP_CHARS:
            encoded = await asyncio.to_thread(lambda: {t: encode(t) for t in texts})
            encode = encoded.__getitem__
        futures = self.batcher.enqueue(texts, encode)
        try:
            async with asyncio.timeout(self._timeout):
                if len(futures) == 1:
                    return [await futures[0]]
                return list(await asyncio.gather(*futures))
        except TimeoutError:
            raise ClassifierUnavailable(f"classifier took longer than {self._timeout}s") from None
        finally:
            for f in futures:  # on failure or cancellation, let the batcher drop the rest
                if not f.done():
                    f.cancel()
