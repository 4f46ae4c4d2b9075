"""Renders the model card (``README.md`` in the model directory) from ``metrics.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.training.labels import mapping_tables


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render(m: dict[str, Any]) -> str:
    """Markdown for one trained model's metrics."""
    from models.training.card_text import INTRO, LIMITS, REPRODUCE, USAGE

    train = m["config"]["train"]
    fill = {
        **train,
        "warmup_pct": round(100 * train["warmup"]),
        "written_copies": m["config"]["data"].get("written_copies", 2),
    }
    parts = [INTRO.format(**fill)]
    parts.append("## Labels and thresholds\n")
    parts.append(
        _table(
            ["code", "threshold", "test precision", "test recall", "test F1", "test support"],
            [
                [
                    c,
                    m["thresholds"][c],
                    *(m["test_per_code"][c][k] for k in ("precision", "recall", "f1", "support")),
                ]
                for c in m["labels"]
            ],
        )
    )
    parts.append("\n## Held-out results (model only, no lexicon)\n")
    rows = [["test split, any code (calibrated thresholds)", *_bin(m["test_any_unsafe"])]]
    rows.append(["test split, any code (all thresholds 0.5)", *_bin(m["test_any_unsafe_at_0.5"])])
    rows.append(["COLD dev (offensive vs not; calibrated)", *_bin(m["cold_dev"])])
    rows.append(["COLD dev (all thresholds 0.5)", *_bin(m["cold_dev_at_0.5"])])
    rows += [[f"test: {src}", *_bin(v)] for src, v in m["test_by_source"].items()]
    parts.append(_table(["set", "n", "accuracy", "precision", "recall", "F1"], rows))
    parts.append(
        "\nReference point: fine-tuned BERT-base-Chinese reaches ~0.81 accuracy on the COLD *test* split "
        f"(COLD paper). This model is ~1/{round(102_000_000 / m['params'])} of its size (BERT-base-Chinese: "
        "102M parameters), trained from scratch in minutes on 2 CPU cores, and is scored here on "
        "COLD *dev* (the test split is not in the shared data).\n"
    )
    if "pipeline" in m:
        parts.append(_pipeline_section(m))
    parts.append("## False positives on benign prompts (TC260-003 over-refusal limit: 5%)\n")
    parts.append(
        _table(
            ["benign set", "n", "flagged (any code)"],
            [[k, v["n"], v["fpr"]] for k, v in m["benign_fpr"].items()],
        )
    )
    parts.append(
        f"\nCalibration target: <= {m['config']['fpr_budget']} on validation benign prompts ({m['calibration']}).\n"
    )
    parts.append("## Robustness (held-out zh positives and benign prompts, perturbed)\n")
    base = m["robustness"]["original"]["recall"]
    parts.append(
        _table(
            ["variant", "recall", "drop vs original", "benign FPR", "n pos / n neg"],
            [
                [
                    k,
                    v["recall"],
                    round(base - v["recall"], 4),
                    v["benign_fpr"],
                    f"{v['n_pos']} / {v['n_neg']}",
                ]
                for k, v in m["robustness"].items()
            ],
        )
    )
    parts.append("\n## Out-of-domain: XSafety zh (not trained on; share flagged per scenario)\n")
    parts.append(
        _table(["scenario", "flagged"], [[k, v] for k, v in m["xsafety_zh_flag_rate"].items()])
    )
    parts.append(
        "\nInstruction-attack and harmful scenarios should be flagged often; Mental_Health and "
        "Ethics_And_Morality are mostly benign questions, so a lower rate there is expected.\n"
    )
    sp = m["speed_cpu_batch32_128chars"]
    parts.append("## Speed on this CPU\n")
    parts.append(
        f"Batch 32 x 128 characters, tokenization included, {sp['threads']} threads: "
        f"**{sp['fp32_texts_per_s']} texts/s fp32**, **{sp['bf16_texts_per_s']} texts/s bf16** "
        f"(largest score difference bf16 vs fp32: {sp['bf16_max_abs_score_diff']}). "
        f"Weights ship as bf16 safetensors ({m['params']:,} parameters); all metrics above are "
        "measured on the shipped weights loaded as fp32.\n"
    )
    parts.append("## Training data\n")
    parts.append(DATA_TABLE)
    src = m["data"]["rows_by_source"]
    cols = [
        "train_pos",
        "train_neg",
        "val_pos",
        "val_neg",
        "test_pos",
        "test_neg",
        "cold_dev_pos",
        "cold_dev_neg",
    ]
    parts.append("\nRows after deduplication, by split:\n")
    parts.append(
        _table(["source", *cols], [[s, *(v.get(c, 0) for c in cols)] for s, v in src.items()])
    )
    t = m["training"]
    parts.append(
        f"\nTraining rows after upsampling/augmentation: {m['data']['train_rows_after_augmentation']}. "
        f"{t['steps']} steps in {t['train_seconds']} s ({t['rows_per_second']} rows/s); whole recipe "
        f"{m['total_minutes']} min. Config: `{json.dumps(m['config']['train'])}`, vocab {m['config']['vocab_size']}.\n"
    )
    parts.append("## Label mapping\n")
    for name, table in mapping_tables().items():
        parts.append(f"**{name}**: " + "; ".join(f"{k} -> {v}" for k, v in table.items()) + "\n")
    parts.append(USAGE)
    parts.append(REPRODUCE.format(**fill))
    parts.append(LIMITS)
    return "\n".join(parts) + "\n"


def _pipeline_section(m: dict[str, Any]) -> str:
    names = {"keywords": "keywords only", "classifier": "model only", "full": "both"}
    rows = [
        [s, names[mode], v["n"], v["accuracy"], v["precision"], v["recall"], v["f1"],
         v["false_positive_rate"]]
        for s, by_mode in m["pipeline"].items() if not s.startswith("robustness/")
        for mode, v in by_mode.items()
    ]  # fmt: skip
    variants = {
        s.split("/", 1)[1]: by_mode
        for s, by_mode in m["pipeline"].items() if s.startswith("robustness/")
    }  # fmt: skip
    base = variants.get("original", {}).get("full", {}).get("recall") or 0.0
    robust = [
        [name, v["classifier"]["recall"], v["full"]["recall"],
         round(base - (v["full"]["recall"] or 0.0), 4), v["full"]["false_positive_rate"]]
        for name, v in variants.items()
    ]  # fmt: skip
    return (
        "## The gateway pipeline: keywords only / model only / both\n\n"
        f"`gateway eval` over the held-out sets with `{m['pipeline_policy']}` (the thresholds "
        "above, each category's action; flagged = blocked or held for review), text "
        "normalized as the gateway does it, prompts marked `[IN]` and answers `[OUT]`. "
        "`benign_prompts` is CValues and hand-written test prompts plus the held-out "
        "hand-written bank: its false-positive rate is the over-refusal figure.\n\n"
        + _table(["set", "pipeline", "n", "accuracy", "precision", "recall", "F1", "FPR"], rows)
        + "\n\nThe robustness rows below, through the pipeline: the gateway's normalization "
        "(traditional to simplified, symbols and spaces dropped, pinyin and homophone variants "
        "in the lexicon) runs before both the lexicon and the model.\n\n"
        + _table(
            ["variant", "recall, model only", "recall, both", "drop (both)", "benign FPR (both)"],
            robust,
        )
        + "\n"
    )


def _bin(v: dict[str, Any]) -> list[object]:
    return [v["n"], v["accuracy"], v["precision"], v["recall"], v["f1"]]


DATA_TABLE = _table(
    ["dataset", "used for", "license"],
    [
        ["COLD (train; dev held out)", "offensive comments by topic + negatives", "Apache-2.0"],
        ["SWSR SexComment", "sexist comments + negatives", "MIT"],
        ["JADE-DB v1, v2, v3", "risky prompts; v3 unsafe/safe answers ([OUT])", "MIT"],
        ["JailBench (seeds + wrapped)", "risky prompts, jailbreak wrappers (X2)", "MIT"],
        ["MultiJail (zh, en)", "risky prompts", "MIT"],
        ["CValues responsibility prompts", "benign hard negatives", "Apache-2.0"],
        [
            "Davidson hate/offensive (<= 2,500 per class)",
            "English hate/offensive + negatives",
            "MIT",
        ],
        ["benign templates (this project)", "benign prompts and responses", "Apache-2.0 (project)"],
        [
            "hand-written benign prompts, questions and answers (this project, 1,200)",
            "benign hard negatives in train / val / test",
            "Apache-2.0 (project)",
        ],
        [
            "XSafety zh (evaluation only)",
            "out-of-domain check; research-use note, not trained on",
            "Apache-2.0",
        ],
    ],
)


def write_card(out: Path, metrics: dict[str, Any]) -> None:
    """Write ``README.md`` next to the weights."""
    (out / "README.md").write_text(render(metrics), "utf-8")


def rewrite_card(out: Path) -> None:
    """Re-render the card from an existing ``metrics.json`` (no retraining)."""
    write_card(out, json.loads((out / "metrics.json").read_text("utf-8")))
