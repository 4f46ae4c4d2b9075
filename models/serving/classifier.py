"""``ServedClassifier``: the ``Classifier`` seam over a model on a serving engine.

    classify(texts) -> normalize / direction marker (when the model was trained so)
                    -> verdict cache (LRU, then Redis)
                    -> slices of long texts (window_chars, overlap)
                    -> CallBatcher: concurrent texts coalesced into calls (max_batch,
                       max_inflight), identical texts computed once
                    -> Backend: request body -> Transport (timeouts, pool) -> scores
                    -> per text: max over its slices

The backend's ``discover`` (model name, labels, limits) runs before the first call and again
after a failure, at most once a second, shared by every caller that waits for it. Every
failure, a timeout over the whole call included, is ``ClassifierUnavailable``: the policy's
fail mode decides.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from gateway.classifier import ClassifierUnavailable, Scores
from gateway.lexicon.normalize import normalize
from gateway.metrics import REMOTE_OUTCOMES, Metrics
from models.cache import VerdictCache
from models.serving.backend import Backend
from models.serving.batching import CallBatcher, CallResult
from models.serving.transport import ServedError, Transport

log = logging.getLogger(__name__)

DIRECTION_MARKERS = {"input": "[IN]", "output": "[OUT]"}  # as models/training writes them
_RETRY_DISCOVERY_S = 1.0
_HEALTH_TTL_S = 2.0


class ServedClassifier:
    """Implements ``gateway.classifier.Classifier`` (and ``health`` for ``/readyz``)."""

    def __init__(
        self,
        backend: Backend,
        transport: Transport,
        *,
        path: str,
        fingerprint: str = "",
        stage: str = "primary",
        metrics: Metrics | None = None,
        timeout_s: float = 10.0,
        max_inflight: int = 8,
        max_queue: int = 2048,
        max_wait_us: int = 0,
        window_overlap: int | None = None,
        normalize_text: bool = False,
        markers: bool = False,
        cache_options: dict[str, Any] | None = None,
        health_timeout_s: float = 1.0,
    ) -> None:
        self.backend = backend
        self._http = transport
        self._path = path
        self._fingerprint = fingerprint  # the spec as configured, for the cache salt
        self._stage = stage
        self._timeout = timeout_s
        self._batch_options = {
            "max_inflight": max_inflight, "max_queue": max_queue, "max_wait_us": max_wait_us,
        }  # fmt: skip
        self._overlap = window_overlap
        self._normalize = normalize_text
        self._markers = markers
        self._cache_options = cache_options
        self._cache: VerdictCache | None = None
        self._metrics = metrics
        self._health_timeout = health_timeout_s
        self._batchers: dict[str, CallBatcher] = {}
        self._discovered = False
        self._discovery: asyncio.Task[None] | None = None
        self._discovery_error: tuple[float, ClassifierUnavailable] | None = None
        self._health: tuple[float, dict[str, str]] | None = None
        labels = {"backend": backend.kind, "stage": stage}
        if metrics is not None:
            self._m_outcome = {
                o: metrics.remote_requests.labels(**labels, outcome=o) for o in REMOTE_OUTCOMES
            }
            self._m_seconds = metrics.remote_duration.labels(**labels)
            self._m_batch = metrics.remote_batch_texts.labels(**labels)
            self._m_depth = metrics.remote_queue_depth.labels(**labels)

    async def classify(
        self,
        texts: Sequence[str],
        direction: str | None = None,
        *,
        normalized: Sequence[str] | None = None,
    ) -> list[Scores]:
        """Scores per text, in order; ``ClassifierUnavailable`` on any failure or timeout."""
        if not texts:
            return []
        try:
            async with asyncio.timeout(self._timeout):
                return await self._classify(list(texts), direction, normalized)
        except TimeoutError:
            raise ClassifierUnavailable(
                f"served classifier took longer than {self._timeout}s"
            ) from None

    def info(self) -> dict[str, str]:
        d = self.backend.describe()
        name = d.get("name") or self._path  # the URL until the server has named its model
        return {
            **d,
            "name": name,
            "version": d.get("version") or name,
            "path": self._path,
            "kind": f"served:{self.backend.kind}",
            "device": "remote",
            "dtype": "-",
            "stage": self._stage,
            "max_batch": str(self.backend.max_batch),
        }

    async def health(self) -> dict[str, str]:
        """Whether the engine answers now (its health URL, within ``health_timeout_s``);
        remembered for two seconds so probes never load it."""
        now = time.monotonic()
        if self._health is not None and now - self._health[0] < _HEALTH_TTL_S:
            return self._health[1]
        try:
            # One bound for discovery and the probe: /readyz must answer within the kubelet's
            # probe timeout (2 s) even when the engine hangs.
            async with asyncio.timeout(self._health_timeout):
                await self._ready()
                await self._http.get(self.backend.health_url(), timeout_s=self._health_timeout)
            status = {"status": "ok"}
        except (ClassifierUnavailable, TimeoutError) as exc:
            status = {"status": "down", "detail": str(exc) or "health check timed out"}
        self._health = (time.monotonic(), status)
        return status

    async def aclose(self) -> None:
        for batcher in self._batchers.values():
            await batcher.aclose()
        if self._discovery is not None and not self._discovery.done():
            self._discovery.cancel()
        if self._cache is not None:
            await self._cache.aclose()
        await self._http.aclose()

    async def _classify(
        self, texts: list[str], direction: str | None, normalized: Sequence[str] | None
    ) -> list[Scores]:
        await self._ready()
        seen = self._as_model_sees(texts, direction, normalized)
        keyed = [f"{direction or ''}\0{t}" for t in seen] if self.backend.uses_direction else seen
        results: list[Scores | None] = (
            await self._cache.get_many(keyed) if self._cache is not None else [None] * len(seen)
        )
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            computed = await self._compute([seen[i] for i in todo], direction)
            for i, scores in zip(todo, computed, strict=True):
                results[i] = scores
            if self._cache is not None:
                self._cache.put_many([keyed[i] for i in todo], computed)
        return results  # type: ignore[return-value]  # every slot is filled above

    def _as_model_sees(
        self, texts: list[str], direction: str | None, normalized: Sequence[str] | None
    ) -> list[str]:
        if self._normalize:
            if normalized is not None and len(normalized) == len(texts):
                texts = list(normalized)  # the pipeline's, with the same default rules
            else:
                texts = [normalize(t).text for t in texts]
        marker = DIRECTION_MARKERS.get(direction or "") if self._markers else None
        return [f"{marker} {t}" for t in texts] if marker else texts

    async def _compute(self, texts: list[str], direction: str | None) -> list[Scores]:
        """Slices of every text through the batcher, then the maximum per code per text."""
        owners: list[int] = []
        pieces: list[str] = []
        for i, text in enumerate(texts):
            for piece in self._slices(text):
                owners.append(i)
                pieces.append(piece)
        out: list[Scores] = [{} for _ in texts]
        # Nothing to judge in blank text; engines refuse empty inputs, so it is not sent.
        sent = [j for j, p in enumerate(pieces) if p.strip()]
        if sent:
            batcher = self._batcher(direction)
            scored = await batcher.run([pieces[j] for j in sent])
            for j, scores in zip(sent, scored, strict=True):
                merged = out[owners[j]]
                for code, score in scores.items():
                    if score > merged.get(code, -1.0):
                        merged[code] = score
        return out

    def _slices(self, text: str) -> list[str]:
        size = self.backend.window_chars
        if size is None or len(text) <= size:
            return [text]
        overlap = min(self._overlap if self._overlap is not None else size // 8, size // 2)
        step = size - overlap
        return [text[i : i + size] for i in range(0, len(text) - overlap, step)]

    def _batcher(self, direction: str | None) -> CallBatcher:
        key = (direction or "") if self.backend.uses_direction else ""
        batcher = self._batchers.get(key)
        if batcher is None:

            async def call(texts: list[str]) -> list[CallResult]:
                return await self._call(texts, direction)

            batcher = self._batchers[key] = CallBatcher(
                call,
                max_batch=self.backend.max_batch,
                depth=self._m_depth if self._metrics is not None else None,
                **self._batch_options,
            )
        return batcher

    async def _call(self, texts: list[str], direction: str | None) -> list[CallResult]:
        url, body = self.backend.request(texts, direction)
        started = time.perf_counter()
        outcome = "ok"
        try:
            doc = await self._http.post(url, body)
            try:
                results = self.backend.parse(doc, len(texts))
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
                raise ServedError(
                    "malformed", f"served classifier sent a malformed answer: {exc}"
                ) from exc
            if any(isinstance(r, Exception) for r in results):
                outcome = "malformed"
            return results
        except ServedError as exc:
            outcome = exc.outcome
            raise
        finally:
            if self._metrics is not None:
                self._m_outcome[outcome].inc()
                self._m_seconds.observe(time.perf_counter() - started)
                self._m_batch.observe(len(texts))

    async def _ready(self) -> None:
        """Run the backend's discovery once; after a failure, again at most once a second."""
        if self._discovered:
            return
        if self._discovery_error is not None:
            failed_at, error = self._discovery_error
            if time.monotonic() - failed_at < _RETRY_DISCOVERY_S:
                raise error
        if self._discovery is None or self._discovery.done():
            self._discovery = asyncio.get_running_loop().create_task(self._discover())
        # shield: one caller timing out must not cancel the discovery others wait for
        await asyncio.shield(self._discovery)

    async def _discover(self) -> None:
        try:
            await self.backend.discover(self._http)
        except ClassifierUnavailable as exc:
            self._discovery_error = (time.monotonic(), exc)
            log.warning("served classifier %s: %s", self._path, exc)
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            error = ClassifierUnavailable(f"{self._path}: unexpected metadata answer: {exc!r}")
            self._discovery_error = (time.monotonic(), error)
            log.warning("served classifier %s: %s", self._path, error)
            raise error from exc
        self._discovered = True
        self._discovery_error = None
        if self._cache_options is not None:
            self._cache = VerdictCache(self._cache_salt(), **self._cache_options)
        log.info("served classifier ready: %s", self.info())

    def _cache_salt(self) -> str:
        """Verdicts are shared by replicas that call the same model the same way, and never
        outlive a change of model, version, label map or options."""
        d = self.backend.describe()
        raw = "\0".join((self._fingerprint, d.get("name", ""), d.get("version", "")))
        return "served:" + hashlib.sha256(raw.encode()).hexdigest()[:16]
