"""Generative guard models (Llama Guard 3 style, Qwen3Guard-Gen style) as batcher adapters.

Each window of a text is wrapped in the model's own chat template as a user turn, the model
generates a few tokens greedily, and :mod:`models.guard_parse` turns the verdict into taxonomy
scores. Prompts are left-padded (decoder-only) to the same length buckets as encoders.
An output that matches no verdict format fails only that text (``ClassifierUnavailable``),
so the policy's fail mode decides instead of a silent "safe".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from models import device as dev
from models import guard_parse, labels, shapes, windows
from models.batcher import Row, RowResult

DEFAULT_LENGTHS = (128, 256, 512, 1024, 2048)


def detect_format(config: Any, path: Path) -> guard_parse.GuardFormat:
    """Qwen-family guards answer ``Safety: ...``; Llama Guard answers ``safe``/``unsafe``."""
    name = f"{getattr(config, '_name_or_path', '')} {path.name}"
    return guard_parse.format_for(f"{name} {getattr(config, 'model_type', '')}")


class GuardAdapter:
    def __init__(
        self,
        path: Path,
        *,
        device: str = "cpu",
        dtype: str = "auto",
        version: str = "",
        guard_format: guard_parse.GuardFormat | None = None,
        length_buckets: Sequence[int] | None = None,
        batch_sizes: Sequence[int] = (1, 2, 4, 8),
        call_cost: int = 256,
        window_overlap: int = 32,
        max_new_tokens: int = 24,
        controversial_score: float = 0.5,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = path
        self.device = device
        self.version = version
        tokenizer: Any = AutoTokenizer.from_pretrained(path)  # type: ignore[no-untyped-call]
        if tokenizer.chat_template is None:
            raise ValueError(f"{path}: a guard model needs a chat template")
        self._tokenizer = tokenizer
        self._backend = tokenizer.backend_tokenizer
        self._backend.no_truncation()
        self._backend.no_padding()
        self.dtype = dev.resolve_dtype(dtype, device)
        model: Any = AutoModelForCausalLM.from_pretrained(
            path, attn_implementation="sdpa", dtype=self.dtype
        )
        self._model = model.eval().to(device)
        if device == "hpu":
            from habana_frameworks.torch.hpu import wrap_in_hpu_graph

            self._model = wrap_in_hpu_graph(self._model)
        config = model.config
        self.name = str(getattr(config, "_name_or_path", "") or path.name)
        self.format = guard_format or detect_format(config, path)
        self._overrides = labels.load_label_map(path)
        self._controversial = controversial_score
        self._max_new = max_new_tokens
        pad = tokenizer.pad_token_id
        self._pad_id = int(pad if pad is not None else tokenizer.eos_token_id or 0)
        max_len = int(getattr(config, "max_position_embeddings", 2048)) - max_new_tokens
        buckets = tuple(b for b in (length_buckets or DEFAULT_LENGTHS) if b < max_len) or (max_len,)
        self.shapes = shapes.ShapePlan(buckets, tuple(batch_sizes), call_cost)
        self.shapes_seen: set[tuple[int, int]] = set()
        self.direction_markers: dict[str, str] = {}  # the chat template says who speaks
        self.normalizes_text = False  # generative guards read text as users wrote it
        self._parts = False  # some templates want content as [{"type": "text", ...}]
        overhead = len(self._render(""))
        self._window = self.shapes.max_length - overhead - 8  # 8: merges at the window edges
        if self._window < 16:
            raise ValueError(f"{path}: template uses {overhead} tokens of {self.shapes.max_length}")
        self._overlap = min(window_overlap, self._window // 2)

    def encode(self, text: str) -> list[Row]:
        ids = self._backend.encode(text, add_special_tokens=False).ids
        parts = windows.split(ids, self._window, self._overlap)
        if len(parts) == 1:
            return [self._fit(text, parts[0])]
        return [self._fit(self._tokenizer.decode(p), p) for p in parts]

    def run(self, rows: Sequence[Row]) -> list[RowResult]:
        out: list[RowResult] = [{} for _ in rows]
        with torch.inference_mode():
            for chunk in shapes.plan([len(r) for r in rows], self.shapes):
                texts = self._generate([rows[i] for i in chunk.rows], chunk.batch, chunk.length)
                for j, i in enumerate(chunk.rows):
                    out[i] = self._score(texts[j])
        return out

    def warmup(self) -> None:
        with torch.inference_mode():
            for length in self.shapes.length_buckets:
                for batch in self.shapes.batch_sizes:
                    self._generate([[self._pad_id] * length], batch, length)

    def info(self) -> dict[str, str]:
        return {
            "name": self.name,
            "path": str(self.path),
            "kind": f"guard:{self.format}",
            "device": self.device,
            "dtype": dev.dtype_name(self.dtype),
            "version": self.version,
            "length_buckets": ",".join(map(str, self.shapes.length_buckets)),
            "batch_sizes": ",".join(map(str, self.shapes.batch_sizes)),
        }

    def _render(self, text: str) -> list[int]:
        content: Any = [{"type": "text", "text": text}] if self._parts else text
        try:
            ids = self._tokenizer.apply_chat_template(
                [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=True
            )
        except Exception:
            if self._parts:
                raise
            self._parts = True
            return self._render(text)
        return list(ids)

    def _fit(self, text: str, ids: list[int]) -> Row:
        """The prompt for one window, trimmed if re-tokenising in context made it too long."""
        prompt = self._render(text)
        while len(prompt) > self.shapes.max_length:
            ids = ids[: len(ids) - (len(prompt) - self.shapes.max_length) - 1]
            prompt = self._render(self._tokenizer.decode(ids))
        return prompt

    def _generate(self, rows: Sequence[Row], batch: int, length: int) -> list[str]:
        self.shapes_seen.add((batch, length))
        ids = torch.full((batch, length), self._pad_id, dtype=torch.long)
        mask = torch.zeros((batch, length), dtype=torch.long)
        for j, row in enumerate(rows):  # left padding: generation continues from the right edge
            ids[j, length - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[j, length - len(row) :] = 1
        mask[len(rows) :, -1] = 1
        out = self._model.generate(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            max_new_tokens=self._max_new,
            do_sample=False,
            pad_token_id=self._pad_id,
        )
        new = out[: len(rows), length:].cpu()
        texts: list[str] = self._tokenizer.batch_decode(new, skip_special_tokens=True)
        return texts

    def _score(self, output: str) -> RowResult:
        try:
            verdict = guard_parse.parse(output, self.format)
        except guard_parse.GuardOutputError as exc:
            return exc
        return guard_parse.to_scores(
            verdict, self.format, overrides=self._overrides, controversial_score=self._controversial
        )
