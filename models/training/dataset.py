"""From shared datasets to the rows the model trains and is evaluated on."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from models.training import benign, benign_questions, benign_written, sources, splits
from models.training.example import Example, with_direction
from models.training.perturb import Perturber

# Prompt-style sources are small next to the social-media comments; doubling them in the
# training set keeps the prompt/response domain from being drowned out.
_UPSAMPLE = {
    "JADE",
    "JADE-v3-unsafe",
    "JADE-v3-safe",
    "JailBench-seed",
    "MultiJail-zh",
    "MultiJail-en",
    "CValues",
    "benign-template",
}


@dataclass(frozen=True, slots=True)
class DataConfig:
    data_dir: Path
    seed: int = 0
    limit: int | None = None  # rows per source file, for quick runs and tests
    benign_templates: int = 3000
    min_support: int = 20  # a code needs this many training rows to get an output
    augment_rate: float = 0.1  # share of training rows that get one perturbed copy
    no_direction_rate: float = 0.15  # share of training rows shown without [IN]/[OUT]
    # Copies of each hand-written benign text: few rows, but the closest to real traffic, and
    # what keeps topic words (drugs, fraud, regions, groups) from flagging benign questions.
    written_copies: int = 6


def load_rows(cfg: DataConfig) -> list[Example]:
    """Every source, deduplicated and split (``Example.split`` set)."""
    rows = sources.all_sources(cfg.data_dir, cfg.limit)
    n_benign = cfg.benign_templates if cfg.limit is None else min(cfg.benign_templates, cfg.limit)
    rows += benign.train_bank(n_benign, cfg.seed)
    written = benign_written.written_bank() + benign_questions.question_bank()
    rows += written if cfg.limit is None else written[: cfg.limit]
    return splits.build(rows, cfg.seed)


def label_set(rows: list[Example], min_support: int) -> list[str]:
    """Codes with enough training rows, in taxonomy order."""
    counts = Counter(c for r in rows if r.split == "train" for c in r.codes)
    return sorted(c for c, n in counts.items() if n >= min_support)


def restrict(rows: list[Example], labels: list[str]) -> list[Example]:
    """Drop codes without an output; a positive left with no modeled code is dropped too
    (training it as benign would teach the model that the harm is fine)."""
    keep = set(labels)
    out = []
    for r in rows:
        codes = r.codes & keep
        if r.codes and not codes:
            continue
        out.append(replace(r, codes=codes))
    return out


def training_texts(rows: list[Example], cfg: DataConfig, perturber: Perturber) -> list[Example]:
    """Train rows with upsampling, perturbed copies and some rows without a direction marker.
    The direction marker is folded into ``text`` here (``direction`` then only describes it)."""
    rng = random.Random(cfg.seed)
    out: list[Example] = []
    for r in rows:
        if r.split != "train":
            continue
        n = (
            cfg.written_copies
            if r.source == "benign-written"
            else 2
            if r.source in _UPSAMPLE
            else 1
        )
        copies = [r] * n
        if rng.random() < cfg.augment_rate:
            copies.append(replace(r, text=perturber.any(r.text, rng)))
        for c in copies:
            direction = None if rng.random() < cfg.no_direction_rate else c.direction
            out.append(replace(c, text=with_direction(c.text, direction)))
    return out


def targets(rows: list[Example], labels: list[str]) -> torch.Tensor:
    """Multi-hot float targets, shape (len(rows), len(labels))."""
    index = {c: i for i, c in enumerate(labels)}
    t = torch.zeros((len(rows), len(labels)), dtype=torch.float32)
    for i, r in enumerate(rows):
        for c in r.codes:
            t[i, index[c]] = 1.0
    return t
