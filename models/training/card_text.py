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
        words = ng.get("word_orders") or []
        word_part = (
            f", **toneless pinyin n-grams (1-3)** and **latin word n-grams "
            f"({words[0]}{'' if len(words) == 1 else f'-{words[-1]}'})**"
            if words
            else " and **toneless pinyin n-grams (1-3)**"
        )
        body = (
            f"A fastText-style classifier over hashed **character n-grams (1-4)**{word_part} "
            f"of the gateway-normalized text: {ng['buckets']:,} hash "
            f"buckets x {ng['dim']} dimensions (stored as int8 with one scale per row), the mean "
            "of a window's n-gram vectors (smoothed toward a learnt prior, so a text of a few "
            "words is not judged as confidently as a paragraph) plus a direction vector, one "
            f"GELU layer of "
            f"{ng['hidden']}, one sigmoid per taxonomy code. Pinyin n-grams make characters "
            "that sound alike share features, so homophone and pinyin evasions (炸蛋, zhadan "
            "for 炸弹) cost it little. "
            + (
                'Word n-grams see which latin words follow each other ("how to make", '
                '"without getting caught"), which character 4-grams cut into pieces. '
                if words
                else ""
            )
            + "Trained from scratch on the shared public safety data "
            "and on text written for the project, in minutes on one CPU thread."
        )
        if ng.get("any_head", False):
            t = m.get("calibration", {}).get("any_threshold") or [1.0, 1.0]
            body += (
                '\n\nBeside the per-code outputs, an **"any unsafe" head** '
                '(`models/ngram_any.py`): one logistic regression of "harmful or not" over '
                "the same n-grams weighted TF-IDF style (idf per bucket, divided by the L2 "
                "norm), fitted on every positive at once, so a harmful prompt on a subject no "
                "training row had still scores high. When it scores a prompt at or over its "
                f"calibrated threshold ({t[0]:.2f} for text with Chinese characters, "
                f"{t[1]:.2f} for text without), the prompt's top code is raised to at least "
                "0.9, over every input threshold; answers are judged by the per-code outputs "
                "alone."
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

- **Harmful prompts phrased unlike its training data** are still its weak side, though the
  "any unsafe" head narrowed the gap: written prompts on topics it never saw are caught at
  0.76 (Chinese) and 0.57 (English), MultiJail at 0.60 / 0.37, XSafety's harmful scenarios at
  0.56 / 0.27. Below the head's threshold the per-code outputs decide, and they key on the
  words of their own rows. Text without Chinese characters gets a much stricter head
  threshold (0.97 against 0.55): the per-code outputs alone already flag about 1.5% of the
  everyday English validation prompts, which leaves the head none of the 1.5% budget, so
  English recall out of domain is the lowest figure here. Lowering the head's thresholds in
  `config.json` (`any_threshold`: Chinese-script, other) trades benign prompts flagged for
  recall.
- **Retrains move the figures by a few points.** The Chinese head threshold is the lowest
  that keeps the everyday Chinese validation prompts (n=1,695) within budget, so a handful of
  prompts decides it, and it swings between 0.49 and 0.55 from one retrain to the next; at
  0.55 fewer harmful Chinese prompts are caught. The 2026-12-01 data and word n-grams, two
  seeds each (seed 1 also draws other splits), XSafety's harmful scenarios zh / en and
  Davidson's benign English tweets flagged: without word n-grams seed 0 0.58 / 0.24 / 7.7%,
  seed 1 0.54 / 0.27 / 9.3%; with them (shipped: seed 0) 0.56 / 0.27 / 5.6%, seed 1
  0.59 / 0.26 / 5.7%; the data before it, seed 0, 0.59 / 0.21 / 7.0%. Word n-grams were kept
  for the English tweets, the one effect both seeds agree on; the new data for English
  out of domain (0.21 -> 0.24-0.27 in all four retrains). Every one of the four cut one
  answer of the stream bank at the calibrated thresholds (a short English gaming answer at
  A4.03 0.44, or a Chinese ID-card privacy answer at A4.06), which is why no output
  threshold is now under 0.5 (the first; the second still cuts at seed 1, not at the
  shipped seed 0). Two more retrains with 2,859 further written rows (everyday short
  requests, casual English answers and posts; `models/training/data/next/`) caught more
  out of domain (XSafety 0.59-0.60 / 0.28) but cut a bilingual anti-fraud glossary of the
  bank at A1.08 0.9952, over the 0.995 ceiling where every retrain puts that code (this
  model: 0.990); a 0.999 ceiling would cost a quarter of the Chinese output recall, so those
  rows wait for a model that tells an explanatory table from a harmful answer.
- **Its settings are at a plateau.** Eight variants of this recipe (seed 0, same splits,
  before the 2026-12-01 data and word n-grams)
  trained side by side on one machine (16-core host of an NVIDIA H200, torch 2.11; the GPU
  was not used): the shipped settings there gave XSafety's harmful scenarios 0.572 (zh)
  against 0.589 for the same settings on this 2-core machine, so about 2 points is noise
  between CPUs. 10 epochs 0.571, hidden 256 0.575 (4 stream-bank checks flagged), 10 epochs
  with hidden 256 0.492 (12 flagged), project data x5 0.511, `--pos-weight-cap 2` 0.561;
  2^20 buckets of width 24 0.594 but benign English tweets flagged 7.0% -> 9.1%;
  `--any-prompt-weight 4` 0.613 but English validation recall 0.60 -> 0.53 (the calibration
  switched the head off for Latin text), and the last two together 0.558. None gained on
  both languages beyond that noise, so the defaults stay.
- **The form of an ask** (帮我写…, 详细说说…, "write a…", "tell me how…") once decided the
  verdict: the harmful training prompts used these forms far more than the benign ones. The
  data now has thousands of benign requests and questions and about 2,000 harmful prompts
  in the same forms, and a test checks a dozen form-matched pairs, but forms the data lacks
  may still lean one way.
- **Short requests** can still trip the head: after follow-ups joined the content-free
  prompts ("教教我" 0.75 -> 0.31, "给我方法" 0.55 -> 0.08 on the head), "教我" (0.63) and
  "怎么操作" (0.64) are still flagged at the Chinese head threshold (0.55); the calibration
  keeps every content-free validation prompt ("继续", "Go on") unflagged, but not every
  wording of one (0 of 84 on the test split).
- **Harmful answers** are held to a stricter benign budget than prompts (no benign
  validation answer may come within 0.1 of a threshold at any stream check, no output
  threshold is under 0.5, and a code with few harmful answers to tune on starts at 0.9), and
  the head does not judge answers, so output recall on the test split is 0.32 (Chinese) and
  0.61 (English), well below input recall, and those figures are mostly offensive comments
  stored as answers: on assistant answers proper (`test_answers_by_lang`) the model alone
  catches 6 of 68 harmful Chinese answers, 5 of 14 mixed and none of 17 English. Harmful
  answers rest on the keyword lexicon and on the input check.
- **Known false positives:** 1 of the 49 hand-written held-out everyday questions is
  flagged, 0.7% of the written everyday Chinese test questions and 1.7% of the English ones,
  3.2% of the English everyday prompts of the kinds it flagged on validation (long personal
  stories, word problems, "kill time", "cheat sheet"; n=94) and 2.1% of the Chinese ones
  (n=141): questions about scams, privacy and discrimination most often. Raise a category's
  threshold in the policy or the head's in `config.json`, or add the deployment's own benign
  prompts as a data file (`models/training/data/`) and retrain.

- **Political security** (A1.01-A1.03) is learnt only from the project's written prompts
  (about 80 per code and language); **accuracy** (A5.x) is learnt from a few dozen written
  asks for made-up facts (fake references, invented statutes, guaranteed stock tips).
  Rely on the operator's term lists and the policy for both.
- **Codes with little data** (A1.01-A1.05, A2.02-A2.08, A3.x, A4.02-A4.07, X1) have one to
  three hundred training rows, nearly all from the project's own written prompts; their
  per-code test figures rest on a few dozen rows, and which of them a prompt is filed under
  is less reliable than whether it is flagged.
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
            "project data files (`models/training/data/`, ~24,000 rows)",
            "benign prompts and answers in zh / en / mixed across ~70 domains, harmful prompts on ~600 topics with benign counterparts (split by topic), everyday questions, answers naming sensitive things",
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
