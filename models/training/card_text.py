"""The hand-written prose of the model card (the numbers come from ``metrics.json``)."""

from __future__ import annotations

from typing import Any


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def intro(m: dict[str, Any]) -> str:
    cfg = m["config"]
    if m.get("arch") == "ngram":
        ng = cfg["ngram"]
        body = (
            "A fastText-style classifier over hashed **character n-grams (1-4)** and **toneless "
            f"pinyin n-grams (1-3)** of the gateway-normalized text: {ng['buckets']:,} hash "
            f"buckets x {ng['dim']} dimensions (stored as int8 with one scale per row), the mean "
            "of a window's n-gram vectors (smoothed toward a learnt prior, so a text of a few "
            "words is not judged as confidently as a paragraph) plus a direction vector, one "
            f"GELU layer of "
            f"{ng['hidden']}, one sigmoid per taxonomy code. Pinyin n-grams make characters "
            "that sound alike share features, so homophone and pinyin evasions (炸蛋, zhadan "
            "for 炸弹) cost it little. Trained from scratch on the shared public safety data "
            "and on text written for the project, in minutes on one CPU thread."
        )
    else:
        tr = cfg["train"]
        base = (
            f"fine-tuned from `{cfg['init']}`"
            if cfg.get("init")
            else f"a {tr['layers']}-layer character transformer (hidden {tr['hidden']}) "
            "trained from scratch"
        )
        body = f"A sequence-classification encoder, {base}, one sigmoid per taxonomy code."
    return (
        "# The default content-safety classifier of the moderation gateway\n\n"
        + body
        + "\n\nIt scores text against the TC260-003 / GB/T 45654-2025 codes of "
        "`gateway/taxonomy.py` (plus X1 minors and X2 jailbreak / prompt injection), "
        "multi-label, and sits behind the gateway's keyword lexicon. Trained by "
        "`python -m models.training` (`models/training/`); `docs/model_card.md` is a copy of "
        "this card.\n"
    )


USAGE_NGRAM = """## Usage

```python
import models
clf = models.load_classifier("models/zh_safety_ngram")      # offline, CPU, no download
scores = await clf.classify(["老年人如何安全地使用网上银行？"], direction="input")
```

The gateway loads it this way (`classifier: auto`). The adapter (`models/ngram.py`) reads the
direction marker (`[IN] ` / `[OUT] `) the core puts in front of the text, normalizes nothing
itself (the core feeds gateway-normalized text, `config.text_normalization = "gateway"`),
splits texts longer than 256 characters into windows (overlap 64) and the batcher takes the
maximum per code over windows. Compare each score with the policy's threshold for the code
(`thresholds.json` holds the calibrated values the recipe wrote into `policies/default.yaml`).
"""

USAGE_ENCODER = """## Usage

```python
from transformers import AutoTokenizer, AutoModelForSequenceClassification
tok = AutoTokenizer.from_pretrained(path)
model = AutoModelForSequenceClassification.from_pretrained(path).eval()
batch = tok(["[IN] " + prompt, "[OUT] " + answer], truncation=True, max_length=128,
            padding=True, return_tensors="pt")
scores = model(**batch).logits.sigmoid()   # columns follow config.id2label
```

Prefix a prompt with `[IN] ` and a model response with `[OUT] ` (`config.direction_tokens`);
the gateway does this itself, at the head of every window of a long text, and feeds
gateway-normalized text. Compare each score with `thresholds.json`.
"""


def reproduce(m: dict[str, Any]) -> str:
    arch = m.get("arch", "encoder")
    init = m["config"].get("init")
    flags = f" --init {init}" if init else ("" if arch == "ngram" else " --arch encoder")
    return f"""## Reproduce

```bash
python -m models.training --out models/zh_safety_ngram --seed 0 --policy policies/default.yaml{flags}
```

The shared datasets are read from `../shared/datasets` at run time (none of them is in the
repository); the project's own data is `models/training/data/*.jsonl`. The same seed, data
and thread count give the same weights. `--policy` writes the calibrated thresholds into the
policy (comments kept) and adds the pipeline table; `--card-only` re-renders this card from
`metrics.json`; `--arch encoder` trains the character transformer instead, and
`--init DIR` fine-tunes a pretrained encoder directory (e.g. a Chinese BERT downloaded
beforehand: on a GPU with `--device cuda`).
"""


LIMITS = """## What it does not cover

- **Harmful prompts phrased unlike its training data** are its weak side: the project's own
  written harmful test rows are found at 31% (Chinese) and 17% (English), MultiJail at
  37-49%, XSafety's harmful scenarios at 36% (Chinese) and 16% (English). The lexicon and,
  where the deployment allows it, a larger pretrained encoder (`--init`) have to carry more.
  Rare codes are part of the cause: A1.04, A1.07, A2.02, A2.06 and most of A3/A4 have a few
  dozen training rows and their test recall is near 0. `--pos-weight-cap 4` (weigh a rare
  code's positives by sqrt(most common code's count / its count), at most 4) raised XSafety
  harmful recall to 0.43 / 0.26, MultiJail Chinese to 0.51 and English written harmful rows to
  0.32 on 2026-11-30, but doubled benign prompts flagged (Chinese 1.6%, English 2.8%) and cut
  3 of the 457 held-out benign answers in a stream, so it is not the shipped default yet.
- **Harmful answers** are held to a stricter benign budget than prompts (no benign
  validation answer may be cut off in a stream), so output recall on the test split is
  0.67 (Chinese) and 0.66 (English), below input recall.
- **Known false positives:** the issue's own example "老年人如何安全地使用网上银行？" still
  scores A1.08 above the input threshold, as do some ordinary questions about banks and
  fraud prevention (3 of the 50 hand-written held-out everyday questions). Raise a
  category's threshold in the policy, or add the deployment's own benign prompts as a data
  file (`models/training/data/`) and retrain.

- **Political security** (A1.01-A1.03) and **accuracy** (A5.x) have no labeled data here:
  the model has no outputs for them. Rely on the operator's term lists and the policy.
- **Codes with little data** (most A3.x, A4.02-A4.07, X1) have a few dozen training rows,
  mostly from the project's own written data; their thresholds stay at 0.5 unless the benign
  budget raised them, and their test figures rest on a handful of rows.
- **Bag of n-grams:** it keys on wording, not meaning. Harm phrased in words it has not seen
  near harm, sarcasm, and context that spans several sentences are where it errs; negation
  ("how do I *avoid* ...") is learnt only where the written hard negatives show it.
- **X2 (jailbreak)** is learnt from JailBench's wrapper templates and the project's written
  jailbreaks; new wrapper styles are weaker.
- **English** is validated on prompts, answers and tweets; other languages are not validated.
- Pinyin features cover toneless readings of single characters (the most common reading);
  near-homophones that differ in their initial or final (n/l, an/ang) are not merged.
"""


DATA_TABLE = _md_table(
    ["dataset", "used for", "license"],
    [
        [
            "COLD (train + dev, pooled and split)",
            "offensive comments by topic + negatives",
            "Apache-2.0",
        ],
        ["SWSR SexComment", "sexist comments + negatives", "MIT"],
        ["JADE-DB v1, v2, v3", "risky prompts; v3 unsafe/safe answers ([OUT])", "MIT"],
        ["JailBench (seeds + wrapped)", "risky prompts, jailbreak wrappers (X2)", "MIT"],
        ["MultiJail (zh, en)", "risky prompts", "MIT"],
        ["CValues responsibility prompts", "benign hard negatives", "Apache-2.0"],
        [
            "Davidson hate/offensive (<= 1,500 per class)",
            "English hate/offensive + negatives",
            "MIT",
        ],
        ["KdConv (5,000 utterances)", "benign Chinese dialogue turns and answers", "Apache-2.0"],
        [
            "CMRC2018 (dev, trial)",
            "benign Chinese questions; Wikipedia passages as answers",
            "**CC BY-SA 4.0**",
        ],
        ["GSM8K (first 2,000 of train)", "benign English prompts and worked answers", "MIT"],
        [
            "project data files (`models/training/data/`, ~9,200 rows)",
            "benign prompts and answers in zh / en / mixed across ~70 domains (~40% hard negatives), harmful prompts and answers with codes",
            "Apache-2.0 (project)",
        ],
        [
            "XSafety zh, en (evaluation only)",
            "out-of-domain check; research-use note, not trained on",
            "Apache-2.0",
        ],
    ],
) + (
    "\n\nCMRC2018 is CC BY-SA 4.0 (attribution: Cui et al., *A Span-Extraction Dataset for "
    "Chinese Machine Reading Comprehension*, EMNLP 2019); the weights learnt from it are "
    "shipped with this notice. Flames (no per-item verdict) and the lexicon word lists are "
    "not used by the model."
)
