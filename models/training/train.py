"""The training loop: a small BERT over characters, multi-label sigmoid head, AdamW.

Deterministic for a given seed and thread count (torch's CPU kernels are deterministic at a
fixed thread count); ``max_minutes`` is a safety stop, not part of the schedule, so a run
that finishes inside it is reproducible.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import ElectraConfig, ElectraForSequenceClassification, PreTrainedTokenizerBase

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    layers: int = 1
    hidden: int = 128
    heads: int = 2
    intermediate: int = 512
    max_length: int = 128
    epochs: float = 4.0
    batch_size: int = 32
    lr: float = 5e-4
    warmup: float = 0.06
    weight_decay: float = 0.01
    seed: int = 0
    max_minutes: float = 40.0
    device: str = "cpu"  # "cuda" trains much faster; CPU runs are the reproducible ones


def build_model(
    cfg: TrainConfig, vocab_size: int, labels: Sequence[str]
) -> ElectraForSequenceClassification:
    """A randomly initialised BERT-style encoder with one sigmoid output per taxonomy code.

    ELECTRA's classification head (dense + GELU on [CLS]) is used instead of BERT's tanh
    pooler: trained from scratch, the tanh pooler saturated within a few hundred steps and
    the model collapsed to the label prior (identical scores for every input)."""
    config = ElectraConfig(  # type: ignore[no-untyped-call]
        embedding_size=cfg.hidden,
        vocab_size=vocab_size,
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate,
        max_position_embeddings=cfg.max_length,
        type_vocab_size=1,
        problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)),
        label2id={c: i for i, c in enumerate(labels)},
    )
    return ElectraForSequenceClassification(config)  # type: ignore[no-untyped-call]


def encode(tok: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated, unpadded (batches are padded to their longest row)."""
    out: list[list[int]] = tok(list(texts), truncation=True, max_length=max_length)["input_ids"]
    return out


def _batches(lengths: Sequence[int], size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length: sort within chunks of 50 batches, then shuffle the
    batches. Padding waste drops several-fold on short social-media comments."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    chunk = size * 50
    out: list[list[int]] = []
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s : s + chunk], key=lambda i: lengths[i])
        out.extend(part[b : b + size] for b in range(0, len(part), size))
    rng.shuffle(out)
    return out


def collate(ids: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` and ``attention_mask``."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
    return input_ids, mask


def train(
    model: ElectraForSequenceClassification,
    ids: list[list[int]],
    targets: torch.Tensor,
    cfg: TrainConfig,
    pad_id: int,
    on_epoch: Callable[[int, float], None] | None = None,
) -> dict[str, float]:
    """Train in place; returns timing and loss figures for the model card."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model.to(cfg.device)  # type: ignore[arg-type]
    targets = targets.to(cfg.device)
    steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
    total = max(1, int(steps_per_epoch * cfg.epochs))
    warm = max(1, int(total * cfg.warmup))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    lengths = [len(x) for x in ids]
    model.train()
    start = time.monotonic()
    step, seen, loss_sum, epoch = 0, 0, 0.0, 0
    stopped_early = False
    while step < total and not stopped_early:
        for batch in _batches(lengths, cfg.batch_size, rng):
            if step >= total:
                break
            if time.monotonic() - start > cfg.max_minutes * 60:
                log.warning("max-minutes reached at step %d of %d", step, total)
                stopped_early = True
                break
            input_ids, mask = collate([ids[i] for i in batch], pad_id)
            out = model(
                input_ids=input_ids.to(cfg.device),
                attention_mask=mask.to(cfg.device),
                labels=targets[batch],
            )
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            seen += len(batch)
            loss_sum += out.loss.item()
            if step % 200 == 0:
                log.info(
                    "step %d/%d loss %.4f %.0f rows/s",
                    step,
                    total,
                    loss_sum / 200,
                    seen / (time.monotonic() - start),
                )
                loss_sum = 0.0
        epoch += 1
        if on_epoch is not None:
            on_epoch(epoch, time.monotonic() - start)
    model.to("cpu")  # type: ignore[arg-type]
    model.eval()  # type: ignore[no-untyped-call]
    elapsed = time.monotonic() - start
    return {
        "steps": step,
        "planned_steps": total,
        "train_seconds": round(elapsed, 1),
        "rows_per_second": round(seen / max(elapsed, 1e-9), 1),
        "stopped_early": float(stopped_early),
    }
