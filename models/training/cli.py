"""``python -m models.training``: train, evaluate and write the shipped model directory."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from models.training.paths import shared_datasets

DEFAULT_DATA = shared_datasets()
DEFAULT_OUT = Path("models/zh_safety_ngram")


def _orders(value: str) -> tuple[int, ...]:
    """``"1,2"`` -> ``(1, 2)``; ascending, each at least 1."""
    try:
        orders = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated integers: {value!r}") from None
    if any(n < 1 for n in orders) or list(orders) != sorted(set(orders)):
        raise argparse.ArgumentTypeError(f"orders must be distinct, ascending, >= 1: {value!r}")
    return orders


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The recipe's options (shared by ``python -m models.training`` and ``gateway train``)."""
    p.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA, help="shared datasets (read only)"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model directory to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--max-minutes",
        type=float,
        default=40.0,
        help="safety stop (a run cut short by it is not reproducible)",
    )
    p.add_argument(
        "--arch",
        choices=("ngram", "encoder"),
        default="ngram",
        help="ngram: hashed character + pinyin n-grams (the shipped model); encoder: a "
        "character transformer, or the encoder given by --init",
    )
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="fine-tune this pretrained sequence-classification encoder directory (implies "
        "--arch encoder; e.g. a Chinese BERT downloaded beforehand)",
    )
    # n-gram model options.
    p.add_argument("--dim", type=int, default=48, help="ngram: embedding width")
    p.add_argument("--ngram-hidden", type=int, default=128, help="ngram: hidden layer width")
    p.add_argument("--buckets", type=int, default=1 << 19, help="ngram: hash buckets")
    p.add_argument("--ngram-epochs", type=float, default=6.0)
    p.add_argument(
        "--word-orders",
        type=_orders,
        default=(1, 2),
        help="ngram: latin word n-gram orders, comma-separated (default 1,2); '' for none",
    )
    p.add_argument(
        "--no-any-head",
        dest="any_head",
        action="store_false",
        help="ngram: skip the 'any unsafe' logistic regression (models/ngram_any.py)",
    )
    p.add_argument(
        "--any-prompt-weight",
        type=float,
        default=2.0,
        help="ngram: sample weight of a prompt (not a social-media comment) in the head's fit",
    )
    p.add_argument(
        "--pos-weight-cap",
        type=float,
        default=1.0,
        help="ngram: weigh a rare code's positives up to this much (1: off)",
    )
    # Encoder options: one layer of width 128 scores ~1,300 texts/s at 64 callers on 2 CPU
    # cores; a GPU sweep found 2-3 layers or width 192 no better on COLD dev (0.84-0.87).
    p.add_argument("--epochs", type=float, default=4.0)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--intermediate", type=int, default=0, help="feed-forward width (0: 4 x hidden)")
    p.add_argument(
        "--device",
        default="cpu",
        help="where to train (cpu or cuda); evaluation always runs on the CPU",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 is fastest on a busy 2-core machine)",
    )
    p.add_argument(
        "--limit", type=int, default=None, help="rows per source file (quick runs, tests)"
    )
    p.add_argument(
        "--min-support", type=int, default=20, help="training rows a code needs to get an output"
    )
    p.add_argument(
        "--written-copies",
        type=int,
        default=3,
        help="training copies of each row of the project's data files (models/training/data)",
    )
    p.add_argument(
        "--fpr-budget",
        type=float,
        default=0.015,
        help="share of everyday benign validation prompts the input thresholds may flag",
    )
    p.add_argument(
        "--hard-fpr-budget",
        type=float,
        default=0.05,
        help="share of counterpart benign validation prompts (CValues, the benign halves of "
        "the paired data files) the input thresholds may flag",
    )
    p.add_argument(
        "--answer-fpr-budget",
        type=float,
        default=0.0,
        help="share of benign validation answers the output thresholds may cut off in a "
        "stream (any of its checks flagged)",
    )
    p.add_argument(
        "--eval-only",
        action="store_true",
        help="re-calibrate and re-evaluate the model already in --out (no training)",
    )
    p.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="write the calibrated thresholds into this policy file and evaluate the whole "
        "pipeline (keywords only / model only / both) under it",
    )
    p.add_argument("--card-only", action="store_true", help="re-render README.md from metrics.json")


def run(args: argparse.Namespace) -> int:
    """Entry point for a parsed namespace; returns a process exit code."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from models.training.card import rewrite_card

    if args.card_only:
        rewrite_card(args.out)
        return 0
    from models.training.dataset import DataConfig
    from models.training.recipe import RecipeConfig
    from models.training.recipe import run as run_recipe
    from models.training.train import TrainConfig
    from models.training.train_ngram import NgramConfig

    hidden = args.hidden
    cfg = RecipeConfig(
        data=DataConfig(
            data_dir=args.data_dir,
            seed=args.seed,
            limit=args.limit,
            min_support=args.min_support,
            written_copies=args.written_copies,
        ),
        train=TrainConfig(
            layers=args.layers,
            hidden=hidden,
            heads=max(1, hidden // 64),
            intermediate=args.intermediate or hidden * 4,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            max_minutes=args.max_minutes,
            device=args.device,
        ),
        out=args.out,
        arch="encoder" if args.init is not None else args.arch,
        init=args.init,
        ngram=NgramConfig(
            buckets=args.buckets,
            dim=args.dim,
            hidden=args.ngram_hidden,
            epochs=args.ngram_epochs,
            pos_weight_cap=args.pos_weight_cap,
            any_head=args.any_head,
            any_prompt_weight=args.any_prompt_weight,
            word_orders=args.word_orders,
            seed=args.seed,
            max_minutes=args.max_minutes,
        ),
        threads=args.threads,
        fpr_budget=args.fpr_budget,
        hard_budget=args.hard_fpr_budget,
        answer_budget=args.answer_fpr_budget,
        policy=args.policy,
    )
    m = run_recipe(cfg, eval_only=args.eval_only)
    logging.getLogger(__name__).info("done: test %s", m["test_any_unsafe"])
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``train-model`` to the gateway CLI (``gateway train-model --out DIR``)."""
    p = subparsers.add_parser("train-model", help="train the default safety classifier")
    add_arguments(p)
    p.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.training", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
