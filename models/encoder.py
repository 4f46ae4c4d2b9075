"""Sequence-classification encoders (BERT, RoBERTa, XLM-R, ...) as batcher adapters.

Multi-label models (``problem_type == "multi_label_classification"``) are scored with a
sigmoid, others with a softmax; output indices map to taxonomy codes through ``id2label``
and the optional ``label_map.json`` (see :mod:`models.labels`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gateway.classifier import Scores
from models import device as dev
from models import labels, shapes, windows
from models.batcher import Row, RowResult

log = logging.getLogger(__name__)

# Per device: (length buckets, batch sizes, call cost in tokens). CPUs pay for every padding
# token and gain little past batch 16-32, so they get fine buckets; graph-compiling
# accelerators want few shapes and large batches.
_CPU_SHAPES = ((16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512), (1, 2, 4, 8, 16, 32), 64)
_ACCEL_SHAPES = ((32, 64, 128, 256, 512), (1, 4, 16, 32, 64, 128, 256), 4096)
# Texts the bf16 check scores in both precisions; ids from the vocabulary cover the rest.
_PROBE_TEXTS = ("你好，请介绍一下长城。", "How do I bake bread at home?", "这是一个测试" * 20)


class EncoderAdapter:
    def __init__(
        self,
        path: Path,
        *,
        device: str = "cpu",
        dtype: str = "auto",
        version: str = "",
        length_buckets: Sequence[int] | None = None,
        batch_sizes: Sequence[int] | None = None,
        call_cost: int | None = None,
        window_overlap: int = 32,
        compile: bool = False,
        bf16_tolerance: float = 0.02,
    ) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.path = path
        self.device = device
        self.version = version
        tokenizer: Any = AutoTokenizer.from_pretrained(path)  # type: ignore[no-untyped-call]
        if not tokenizer.is_fast:
            raise ValueError(f"{path}: a fast (Rust) tokenizer is required")
        self._tokenizer = tokenizer
        self._backend = tokenizer.backend_tokenizer
        self._backend.no_truncation()
        self._backend.no_padding()
        model = _load(AutoModelForSequenceClassification, path)
        config = model.config
        self.name = str(getattr(config, "_name_or_path", "") or path.name)
        self._multi_label = config.problem_type == "multi_label_classification"
        self._index_codes = labels.index_to_codes(config.id2label, labels.load_label_map(path))
        max_len = _max_length(tokenizer, config)
        lengths, sizes, cost = _CPU_SHAPES if device == "cpu" else _ACCEL_SHAPES
        buckets = (*(b for b in length_buckets or lengths if b < max_len), max_len)
        self.shapes = shapes.ShapePlan(
            buckets, tuple(batch_sizes or sizes), cost if call_cost is None else call_cost
        )
        self.shapes_seen: set[tuple[int, int]] = set()
        self._prefix, self._suffix = _special_affixes(self._backend)
        self._window = max_len - len(self._prefix) - len(self._suffix)
        self._overlap = min(window_overlap, self._window // 2)
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.direction_markers, self._marker_ids = _direction_markers(config, tokenizer)
        self.normalizes_text = getattr(config, "text_normalization", None) == "gateway"

        torch_dtype = dev.resolve_dtype(dtype, device)
        self.bf16_max_diff: float | None = None
        if torch_dtype == torch.bfloat16 and device == "cpu":
            model, torch_dtype = self._check_bf16(
                model, explicit=dtype != "auto", tol=bf16_tolerance
            )
        self.dtype = torch_dtype
        self._model = model.to(device=device, dtype=torch_dtype)
        self._forward: Any = self._model
        if device == "hpu":
            from habana_frameworks.torch.hpu import wrap_in_hpu_graph

            self._forward = wrap_in_hpu_graph(self._model)
        elif compile:
            mode = "reduce-overhead" if device.startswith("cuda") else "default"  # CUDA graphs
            self._forward = torch.compile(self._model, mode=mode, dynamic=False)

    def encode(self, text: str) -> list[Row]:
        ids = self._backend.encode(text, add_special_tokens=False).ids
        # A leading direction marker opens every window, as in training, not only the first.
        lead = ids[:1] if ids and ids[0] in self._marker_ids else []
        body, size = ids[len(lead) :], self._window - len(lead)
        pre, post = self._prefix + lead, self._suffix
        return [pre + w + post for w in windows.split(body, size, min(self._overlap, size // 2))]

    def run(self, rows: Sequence[Row]) -> list[RowResult]:
        out: list[RowResult] = [{} for _ in rows]
        with torch.inference_mode():
            for chunk in shapes.plan([len(r) for r in rows], self.shapes):
                probs = self._probs([rows[i] for i in chunk.rows], chunk.batch, chunk.length)
                for j, i in enumerate(chunk.rows):
                    out[i] = self._to_scores(probs[j])
        return out

    def warmup(self) -> None:
        for length in self.shapes.length_buckets:
            for batch in self.shapes.batch_sizes:
                with torch.inference_mode():
                    self._probs([[self._pad_id] * length], batch, length)

    def info(self) -> dict[str, str]:
        return {
            "name": self.name,
            "path": str(self.path),
            "kind": "encoder",
            "device": self.device,
            "dtype": dev.dtype_name(self.dtype),
            "version": self.version,
            "length_buckets": ",".join(map(str, self.shapes.length_buckets)),
            "batch_sizes": ",".join(map(str, self.shapes.batch_sizes)),
        }

    def _probs(self, rows: Sequence[Row], batch: int, length: int) -> list[list[float]]:
        """Pad ``rows`` to exactly ``batch`` x ``length``, run the model, return probabilities."""
        self.shapes_seen.add((batch, length))
        ids = torch.full((batch, length), self._pad_id, dtype=torch.long)
        mask = torch.zeros((batch, length), dtype=torch.long)
        for j, row in enumerate(rows):
            ids[j, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[j, : len(row)] = 1
        mask[len(rows) :, 0] = 1  # padding rows see one token: a fully masked row is NaN in SDPA
        logits = self._forward(
            input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
        ).logits.float()
        if self.device == "hpu":
            import habana_frameworks.torch.core as htcore

            htcore.mark_step()
        probs = torch.sigmoid(logits) if self._multi_label else torch.softmax(logits, dim=-1)
        result: list[list[float]] = probs[: len(rows)].cpu().tolist()
        return result

    def _to_scores(self, probs: list[float]) -> Scores:
        scores: Scores = {}
        for i, code in self._index_codes:
            if probs[i] > scores.get(code, -1.0):
                scores[code] = probs[i]
        return scores

    def _check_bf16(self, model: Any, *, explicit: bool, tol: float) -> tuple[Any, torch.dtype]:
        """Keep bf16 only if its scores stay within ``tol`` of fp32 on probe inputs."""
        rows = [r for t in _PROBE_TEXTS for r in self.encode(t)]
        gen = torch.Generator().manual_seed(0)
        vocab = self._tokenizer.vocab_size
        rows += [torch.randint(0, vocab, (n,), generator=gen).tolist() for n in (16, 64, 120)]
        rows = [r[: self.shapes.max_length] for r in rows]
        length = self.shapes.bucket_length(max(map(len, rows)))
        with torch.inference_mode():
            self._model = self._forward = model
            ref = self._probs(rows, len(rows), length)
            self._model = candidate = copy.deepcopy(model).to(torch.bfloat16)
            self._forward = candidate
            got = self._probs(rows, len(rows), length)
        self.shapes_seen.clear()
        diff = max(
            abs(a - b) for ra, rb in zip(ref, got, strict=True) for a, b in zip(ra, rb, strict=True)
        )
        self.bf16_max_diff = diff
        if diff <= tol or explicit:
            if diff > tol:
                log.warning(
                    "bf16 scores differ from fp32 by %.4f (> %.4f); kept as requested", diff, tol
                )
            return candidate, torch.bfloat16
        log.warning("bf16 scores differ from fp32 by %.4f (> %.4f); using fp32", diff, tol)
        return model, torch.float32


def _load(auto_cls: Any, path: Path) -> Any:
    """Load with SDPA attention where the architecture has it, eager otherwise."""
    try:
        model = auto_cls.from_pretrained(path, attn_implementation="sdpa", dtype=torch.float32)
    except (ValueError, ImportError):
        model = auto_cls.from_pretrained(path, dtype=torch.float32)
    return model.eval()


def _direction_markers(config: Any, tokenizer: Any) -> tuple[dict[str, str], set[int]]:
    """The model's direction markers (``config.direction_tokens``: ``{"in": "[IN]", "out":
    "[OUT]"}``, written by the training recipe) keyed by gateway direction, and their ids.
    A marker the vocabulary lacks is ignored rather than sent as unknown characters."""
    tokens = getattr(config, "direction_tokens", None) or {}
    markers: dict[str, str] = {}
    ids: set[int] = set()
    for short, direction in (("in", "input"), ("out", "output")):
        token = str(tokens.get(short) or "")
        token_id = tokenizer.convert_tokens_to_ids(token) if token else None
        if token_id is not None and token_id != tokenizer.unk_token_id:
            markers[direction] = token
            ids.add(int(token_id))
    return markers, ids


def _special_affixes(backend: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer's post-processor puts before and after a text ([CLS] / [SEP],
    <s> / </s>, ...), learnt once so windows can be wrapped without re-tokenising."""
    bare = backend.encode("a", add_special_tokens=False).ids
    full = backend.encode("a", add_special_tokens=True).ids
    for i in range(len(full) - len(bare) + 1):
        if full[i : i + len(bare)] == bare:
            return full[:i], full[i + len(bare) :]
    raise ValueError("cannot locate the text between the tokenizer's special tokens")


def _max_length(tokenizer: Any, config: Any) -> int:
    limits = [int(getattr(config, "max_position_embeddings", 512))]
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limits[0] -= 2  # position ids start after the padding index
    if 0 < tokenizer.model_max_length < 1_000_000:
        limits.append(int(tokenizer.model_max_length))
    return min(limits)
