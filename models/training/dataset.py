"""From shared datasets and the project's data files to the rows the model trains and is
evaluated on."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from models.training import sources, splits, written
from models.training.example import Example, with_direction
from models.training.perturb import Perturber
from models.training.report import first_look

# Prompt-style datasets are small next to the social-media comments; doubling them in the
# training set keeps the prompt/response domain from being drowned out.
_UPSAMPLE = {
    "JADE",
    "JADE-v3-unsafe",
    "JADE-v3-safe",
    "JailBench-seed",
    "MultiJail-zh",
    "MultiJail-en",
    "CValues",
}


@dataclass(frozen=True, slots=True)
class DataConfig:
    data_dir: Path
    seed: int = 0
    limit: int | None = None  # rows per source file, for quick runs and tests
    min_support: int = 20  # a code needs this many training rows to get an output
    # Evasion variants (homophones, pinyin, traditional characters, separators, emoji, made
    # by the gateway's homophone table and pinyin) added as extra training rows: most
    # positives get one, some benign rows too, so "looks cloaked" alone means nothing.
    variant_rate_pos: float = 0.5
    variant_rate_neg: float = 0.15
    # Benign answers also appear as a stream shows them (the answer so far, at least 40
    # characters, its last 256 once longer): a benign answer must stay benign when cut short.
    prefix_rate: float = 0.5
    # ... and every such answer also cut to its opening: its first 40-80 characters, or
    # 80-120 while none is Chinese (report.first_look). The gateway's first look at an answer
    # (stream.classifier_min_chars, _latin) has the least context of any check, and a uniform
    # cut point seldom lands there (two held-out bank answers were cut at 40 characters:
    # "Things to do before selling your old lap" scored X1 0.52).
    opening_rate: float = 1.0
    # Benign texts also appear cut to their first 2-20 characters: greetings, one-word
    # answers and the first words of a stream must not read as anything.
    short_rate: float = 0.15
    no_direction_rate: float = 0.15  # share of training rows shown without [IN]/[OUT]
    # Copies of each row of the project's data files: the closest text to real traffic, and
    # what keeps topic words (drugs, fraud, regions, groups) from flagging benign questions.
    written_copies: int = 3


def load_rows(cfg: DataConfig) -> list[Example]:
    """Every source, deduplicated and split (``Example.split`` set)."""
    rows = sources.all_sources(cfg.data_dir, cfg.limit)
    rows += written.written_sources(cfg.limit)
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


_WRITTEN = frozenset(p.stem for p in written.data_files())


def _copies(row: Example, cfg: DataConfig) -> int:
    if row.source in _WRITTEN:
        return cfg.written_copies
    return 2 if row.source in _UPSAMPLE else 1


def _has_han(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def training_texts(rows: list[Example], cfg: DataConfig, perturber: Perturber) -> list[Example]:
    """Train rows with upsampling, evasion variants, benign answer prefixes and some rows
    without a direction marker. The marker is folded into ``text`` here (normalized as the
    gateway normalizes; ``direction`` then only describes it)."""
    rng = random.Random(cfg.seed)
    out: list[Example] = []
    for r in rows:
        if r.split != "train":
            continue
        copies = [r] * _copies(r, cfg)
        rate = cfg.variant_rate_pos if r.codes else cfg.variant_rate_neg
        if _has_han(r.text) and rng.random() < rate:
            copies.append(replace(r, text=perturber.evasion(r.text, rng)))
        first = first_look(r.text)
        if not r.codes and r.direction == "out" and len(r.text) > first + 20:
            if rng.random() < cfg.prefix_rate:
                copies.append(replace(r, text=r.text[: rng.randint(first, len(r.text) - 10)]))
            if rng.random() < cfg.opening_rate:
                end = rng.randint(first, min(first + 40, len(r.text)))
                copies.append(replace(r, text=r.text[:end]))
        if not r.codes and len(r.text) > 12 and rng.random() < cfg.short_rate:
            copies.append(replace(r, text=r.text[: rng.randint(2, 20)]))
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
