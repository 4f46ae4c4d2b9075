"""The character n-gram model (fastText style) and its batcher adapter.

A model directory of this kind holds ``config.json`` (``"model_type": "char_ngram"``, the
labels, the feature settings), ``model.safetensors`` (the n-gram embedding table stored as
int8 with one fp16 scale per row, and the small fp32 head) and ``pinyin.txt``. Scoring: the
mean of the embeddings of a window's feature ids (:mod:`models.ngram_features`), plus a
direction embedding, through one GELU layer to one sigmoid per taxonomy code; with
``"any_head"`` in the config, an "any unsafe" logistic regression over TF-IDF-weighted
n-grams (:mod:`models.ngram_any`) raises each window's top code to its score.

Rows need no padding (``EmbeddingBag`` takes flat ids and offsets), so every batch is one
model call; the ``ShapePlan`` only sizes the batcher's token budget.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from gateway.classifier import Scores
from models import device as dev
from models import labels, shapes
from models.batcher import Row, RowResult
from models.ngram_any import AnyHead, combine
from models.ngram_features import SCRIPT_LATIN, FeatureConfig, Featurizer, PinyinTable

log = logging.getLogger(__name__)

MODEL_TYPE = "char_ngram"
# Rows are lists of feature ids (about 7 per character); buckets only size the token budget.
_LENGTHS = (64, 128, 256, 512, 1024, 2048, 4096)
_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)


# Pseudo-count of the learnt prior vector in a bag's mean: a text with few n-grams ("Sure!",
# "This is") is pulled toward the prior instead of being judged as confidently as a long one
# by a handful of n-grams (a plain mean scored "Sure!" 1.0 as a jailbreak).
PRIOR_WEIGHT = 16.0


class NgramNet(nn.Module):
    """Smoothed mean of hashed n-gram embeddings (``(sum + k * prior) / (n + k)``) plus a
    direction embedding -> GELU layer -> logits."""

    def __init__(self, buckets: int, dim: int, hidden: int, n_labels: int) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(buckets, dim, mode="sum")
        self.prior = nn.Parameter(torch.zeros(dim))
        self.direction = nn.Embedding(3, dim)
        self.hidden = nn.Linear(dim, hidden)
        self.out = nn.Linear(hidden, n_labels)
        nn.init.uniform_(self.embedding.weight, -1.0 / dim, 1.0 / dim)
        nn.init.zeros_(self.direction.weight)
        # The "any unsafe" logistic regression (models.ngram_any), fitted after the rest.
        self.any_head: AnyHead | None = None
        # The head fires at or over these: Chinese-script text, text without Chinese
        # characters (1.0: never).
        self.any_threshold: tuple[float, float] = (1.0, 1.0)

    def forward(
        self, ids: torch.Tensor, offsets: torch.Tensor, directions: torch.Tensor
    ) -> torch.Tensor:
        logits = self.head(self.embedding(ids, offsets), bag_sizes(ids, offsets), directions)
        if self.any_head is None:
            return logits
        any_logit = self.any_head(ids, offsets, directions)
        return combine(logits, any_logit, directions, self.any_threshold)

    def head(
        self, sums: torch.Tensor, sizes: torch.Tensor, directions: torch.Tensor
    ) -> torch.Tensor:
        """Logits from the summed n-gram vectors of each row, its n-gram count and its
        direction."""
        bags = (sums + PRIOR_WEIGHT * self.prior) / (sizes[:, None] + PRIOR_WEIGHT)
        x = bags + self.direction(directions % SCRIPT_LATIN)  # the direction, not the script
        return self.out(nn.functional.gelu(self.hidden(x)))  # type: ignore[no-any-return]


def bag_sizes(ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The number of ids in each bag, as floats."""
    return torch.diff(offsets, append=torch.tensor([len(ids)])).to(torch.float32)


def pack(
    rows: Sequence[Sequence[int]] | Sequence[np.ndarray],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows ``[direction, id, ...]`` (int64 arrays or lists) -> flat ids, bag offsets,
    directions. Numpy does the flattening: a Python loop over ~25k ids per batch would hold
    the GIL that the event loop needs."""
    arrays = [np.asarray(r, dtype=np.int64) for r in rows]
    lengths = np.fromiter((len(a) - 1 for a in arrays), dtype=np.int64, count=len(arrays))
    offsets = np.zeros(len(arrays), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    flat = np.concatenate([a[1:] for a in arrays]) if arrays else np.zeros(0, dtype=np.int64)
    directions = np.fromiter((a[0] for a in arrays), dtype=np.int64, count=len(arrays))
    return torch.from_numpy(flat), torch.from_numpy(offsets), torch.from_numpy(directions)


def save(
    directory: Path,
    net: NgramNet,
    features: FeatureConfig,
    pinyin: PinyinTable,
    label_names: Sequence[str],
    **extra: Any,
) -> None:
    """Write a loadable model directory; the embedding table is quantized to int8 per row."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    weight = net.embedding.weight.detach().float()
    scale = weight.abs().amax(dim=1).clamp_min(1e-8) / 127.0
    tensors = {
        "embedding.q": torch.round(weight / scale[:, None]).to(torch.int8),
        "embedding.scale": scale.to(torch.float16),
    }
    for name, p in net.state_dict().items():
        if not name.startswith("embedding."):
            # The any head's per-bucket vectors are fp16: half the size, 3 digits kept.
            kind = torch.float16 if name.startswith("any_head.") else torch.float32
            tensors[name] = p.detach().to(kind).contiguous()
    save_file(tensors, str(directory / "model.safetensors"))
    pinyin.save(directory / "pinyin.txt")
    config = {
        "model_type": MODEL_TYPE,
        "architectures": ["CharNgramClassifier"],
        "problem_type": "multi_label_classification",
        "id2label": {str(i): c for i, c in enumerate(label_names)},
        "features": features.to_json(),
        "dim": net.embedding.embedding_dim,
        "hidden": net.hidden.out_features,
        "any_head": net.any_head is not None,
        "any_threshold": list(net.any_threshold),
        "direction_tokens": {"in": "[IN]", "out": "[OUT]"},
        "text_normalization": "gateway",
        **extra,
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n", "utf-8")


def load(directory: Path) -> tuple[NgramNet, Featurizer, dict[str, Any]]:
    """The model (fp32, eval mode), its featurizer and its config."""
    from safetensors.torch import load_file

    config = json.loads((directory / "config.json").read_text("utf-8"))
    if config.get("model_type") != MODEL_TYPE:
        raise ValueError(f"{directory}: not a {MODEL_TYPE} model")
    features = FeatureConfig.from_json(config["features"])
    tensors = load_file(str(directory / "model.safetensors"))
    n_labels = len(config["id2label"])
    net = NgramNet(features.buckets, int(config["dim"]), int(config["hidden"]), n_labels)
    if config.get("any_head"):
        net.any_head = AnyHead(features.buckets)
        t = config.get("any_threshold", 1.0)
        han, latin = (t, t) if isinstance(t, (int, float)) else t
        net.any_threshold = (float(han), float(latin))
    state = {k: v.float() for k, v in tensors.items() if not k.startswith("embedding.")}
    state["embedding.weight"] = (
        tensors["embedding.q"].float() * tensors["embedding.scale"].float()[:, None]
    )
    net.load_state_dict(state)
    net.eval()
    featurizer = Featurizer(features, PinyinTable.load(directory / "pinyin.txt"))
    return net, featurizer, config


def set_any_threshold(directory: Path, threshold: tuple[float, float]) -> None:
    """Record the calibrated thresholds of the model's "any unsafe" head in its config."""
    path = directory / "config.json"
    config = json.loads(path.read_text("utf-8"))
    config["any_threshold"] = [round(float(t), 4) for t in threshold]
    path.write_text(json.dumps(config, indent=2) + "\n", "utf-8")


class NgramAdapter:
    """Batcher adapter for a ``char_ngram`` model directory."""

    # Rows are long id lists but cost no padding: a larger token budget keeps batches full.
    max_batch_tokens = 1 << 17

    def __init__(
        self, path: Path, *, device: str = "cpu", dtype: str = "auto", version: str = ""
    ) -> None:
        self.path = path
        self.device = device
        self.version = version
        net, self._featurizer, config = load(path)
        self.name = str(config.get("model_version") or path.name)
        self._index_codes = labels.index_to_codes(
            {int(k): v for k, v in config["id2label"].items()}, labels.load_label_map(path)
        )
        # fp32 unless asked: the embedding lookup is memory-bound and bf16 gains nothing here.
        self.dtype = torch.float32 if dtype == "auto" else dev.resolve_dtype(dtype, device)
        self._net = net.to(device=device, dtype=self.dtype)
        self.shapes = shapes.ShapePlan(_LENGTHS, _BATCHES, 0)
        self.shapes_seen: set[tuple[int, int]] = set()
        markers = config.get("direction_tokens") or {}
        self.direction_markers = {
            d: markers[k] for k, d in (("in", "input"), ("out", "output")) if k in markers
        }
        self.normalizes_text = config.get("text_normalization") == "gateway"

    def encode(self, text: str) -> list[Row]:
        cap = self.shapes.max_length  # a window never has more ids than the top bucket
        rows = [r[:cap] for r in self._featurizer.rows(text)]
        # int64 arrays, not lists: the batcher only takes their len(), and run() flattens
        # them in numpy. Building Python lists here would cost the event loop ~10 us a text.
        return cast(list[Row], rows)

    def run(self, rows: Sequence[Row]) -> list[RowResult]:
        length = self.shapes.bucket_length(max((len(r) for r in rows), default=1))
        self.shapes_seen.add((self.shapes.bucket_batch(len(rows)), length))
        ids, offsets, directions = pack(rows)
        with torch.inference_mode():
            logits = self._net(
                ids.to(self.device), offsets.to(self.device), directions.to(self.device)
            )
            probs: list[list[float]] = torch.sigmoid(logits.float()).cpu().tolist()
        return [self._to_scores(p) for p in probs]

    def warmup(self) -> None:
        self.run([[1, 0, 1, 2], [2]])  # a row with ids and an empty one

    def info(self) -> dict[str, str]:
        return {
            "name": self.name,
            "path": str(self.path),
            "kind": "ngram",
            "device": self.device,
            "dtype": dev.dtype_name(self.dtype),
            "version": self.version,
            "length_buckets": ",".join(map(str, self.shapes.length_buckets)),
            "batch_sizes": ",".join(map(str, self.shapes.batch_sizes)),
        }

    def _to_scores(self, probs: list[float]) -> Scores:
        scores: Scores = {}
        for i, code in self._index_codes:
            if probs[i] > scores.get(code, -1.0):
                scores[code] = probs[i]
        return scores
