"""Train one architecture on the prepared rows and save a loadable model directory."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from models.training import dataset
from models.training.example import DIRECTION_TOKENS, Example
from models.training.report import SOCIAL_MEDIA

if TYPE_CHECKING:
    from models.training.recipe import RecipeConfig

log = logging.getLogger(__name__)


def fit_ngram(cfg: RecipeConfig, rows: list[Example], labels: list[str]) -> dict[str, float]:
    """The character n-gram model (:mod:`models.ngram`)."""
    from models import ngram
    from models.ngram_features import FeatureConfig, Featurizer, PinyinTable
    from models.training import train_ngram

    features = FeatureConfig(
        buckets=cfg.ngram.buckets, word_orders=cfg.ngram.word_orders, script_codes=True
    )
    pinyin = PinyinTable.build()
    featurizer = Featurizer(features, pinyin)
    ids = train_ngram.featurize(featurizer, [r.text for r in rows])
    torch.manual_seed(cfg.ngram.seed)  # before the model is built: init weights are seeded
    net = ngram.NgramNet(features.buckets, cfg.ngram.dim, cfg.ngram.hidden, len(labels))
    targets = dataset.targets(rows, labels)
    stats = train_ngram.train(net, ids, targets, cfg.ngram)
    if cfg.ngram.any_head:
        from models import ngram_any

        net.any_head = ngram_any.AnyHead(features.buckets)
        unsafe = targets.any(dim=1).numpy()
        weights = np.array(
            [
                cfg.ngram.any_prompt_weight
                if r.direction == "in" and r.source not in SOCIAL_MEDIA
                else 1.0
                for r in rows
            ],
            dtype=np.float64,
        )
        stats |= ngram_any.fit(net.any_head, ids.ids, ids.directions, unsafe, weights)
    ngram.save(
        cfg.out,
        net,
        features,
        pinyin,
        labels,
        model_version=f"zh_safety_ngram-seed{cfg.ngram.seed}",
    )
    return stats


def fit_encoder(cfg: RecipeConfig, rows: list[Example], labels: list[str]) -> dict[str, float]:
    """A character transformer from scratch, or the encoder in ``cfg.init`` fine-tuned
    (its tokenizer gains the direction markers; its head is replaced by one sigmoid per
    code). Weights are saved as bf16 safetensors."""
    from models.training.train import build_model, encode, train
    from models.training.vocab import build_vocab, make_tokenizer

    torch.manual_seed(cfg.train.seed)  # before the model is built: init weights are seeded
    if cfg.init is not None:
        model, tok, max_length = _from_pretrained(cfg, labels)
    else:
        vocab = build_vocab((r.text for r in rows), cfg.max_chars)
        tok = make_tokenizer(vocab, cfg.out, cfg.train.max_length)
        model = build_model(cfg.train, len(vocab), labels)
        max_length = cfg.train.max_length
    ids = encode(tok, [r.text for r in rows], max_length)
    stats = train(model, ids, dataset.targets(rows, labels), cfg.train, int(tok.pad_token_id or 0))
    model.config.direction_tokens = DIRECTION_TOKENS  # read by adapters that know about it
    model.config.text_normalization = "gateway"  # trained on normalize(text): serve it so
    model.config.model_version = f"zh_safety_encoder-seed{cfg.train.seed}"
    to_bf16: Any = model  # transformers types ``to`` through a decorator mypy cannot follow
    to_bf16.to(torch.bfloat16).save_pretrained(cfg.out, safe_serialization=True)
    tok.save_pretrained(cfg.out)
    return stats


def _from_pretrained(cfg: RecipeConfig, labels: list[str]) -> tuple[Any, Any, int]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    assert cfg.init is not None
    tok: Any = AutoTokenizer.from_pretrained(cfg.init)  # type: ignore[no-untyped-call]
    if not tok.is_fast:
        raise ValueError(f"{cfg.init}: a fast (Rust) tokenizer is required")
    tok.add_special_tokens({"additional_special_tokens": list(DIRECTION_TOKENS.values())})
    model: Any = AutoModelForSequenceClassification.from_pretrained(
        cfg.init,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={c: i for i, c in enumerate(labels)},
        problem_type="multi_label_classification",
        ignore_mismatched_sizes=True,  # the pretrained head (if any) has other labels
    )
    model.resize_token_embeddings(len(tok))
    limit = int(getattr(model.config, "max_position_embeddings", cfg.train.max_length))
    max_length = min(cfg.train.max_length, limit, int(tok.model_max_length))
    log.info("fine-tuning %s (%d labels, max length %d)", cfg.init, len(labels), max_length)
    return model, tok, max_length
