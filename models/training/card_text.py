"""The hand-written prose of the model card (the numbers come from ``metrics.json``)."""

INTRO = """# zh_safety_small: a small Chinese-first content-safety classifier

A {layers}-layer character-level transformer encoder (ELECTRA architecture, hidden {hidden},
feed-forward {intermediate}, GELU classification head on [CLS]) trained from scratch on
public Chinese safety data, scoring text against the TC260-003 / GB/T 45654-2025 taxonomy
codes of `gateway/taxonomy.py` (plus X2, jailbreak / prompt injection). Multi-label: one sigmoid
score per code (`config.problem_type = "multi_label_classification"`). It is the default
model of the moderation gateway, meant to sit behind the keyword lexicon; users with network
access can swap in a larger pretrained encoder with the same label convention.

Trained by `python -m models.training` (see `docs/model_card.md` and `models/training/`).
"""

USAGE = """## Usage

```python
from transformers import AutoTokenizer, AutoModelForSequenceClassification
tok = AutoTokenizer.from_pretrained(path)
model = AutoModelForSequenceClassification.from_pretrained(path).eval()
batch = tok(["[IN] " + prompt, "[OUT] " + answer], truncation=True, max_length=128,
            padding=True, return_tensors="pt")
scores = model(**batch).logits.sigmoid()   # columns follow config.id2label
```

Prefix a prompt with `[IN] ` and a model response with `[OUT] ` (the markers are listed in
`config.direction_tokens`); the gateway does this itself, putting the marker at the head of
every window of a long text. 15% of the training rows had no marker, so plain text also
works, a little less well. Compare each score with `thresholds.json` (`{code: threshold}`,
calibrated on the validation split for max F1 under a benign false-positive budget).
Inputs are truncated at 128 tokens (one per Chinese character): score long texts in
overlapping windows and take the max.
"""

REPRODUCE = """## Reproduce

```bash
python -m models.training --out models/zh_safety_small --seed 0 --policy policies/default.yaml
```

Defaults: {layers} layer(s), hidden {hidden}, feed-forward {intermediate}, {epochs} epochs,
batch {batch_size}, AdamW lr {lr} ({warmup_pct}% warm-up, linear decay), 1 torch thread,
each hand-written benign text seen {written_copies} times, `--max-minutes 40` as a safety
stop. The same seed, data and thread count give byte-identical weights (tested on a small
slice in `tests/training_recipe_test.py`); a run that hits `--max-minutes` is cut short and
is not. `--policy` writes the calibrated thresholds into the policy file (comments kept) and
adds the pipeline table above; `--card-only` re-renders this card from `metrics.json`;
`--device cuda` trains on a GPU (a few minutes; CPU runs are the reproducible ones). The
data is read from the shared folder at run time; none of it is in the repository.
"""

LIMITS = """## What it does not cover

- **Where it is useful:** offensive and discriminatory Chinese (COLD/SWSR-style text: region,
  race, gender; A2.01, A2.04, A2.05), the risky-prompt codes with enough training rows
  (A1.08, A2.09, A4.03) and jailbreak wrappers (X2). Codes with a few dozen training rows
  (A1.04, A1.06, A1.07, A2.02-A2.08, A3.x, A4.01, A4.02, A4.05-A4.07) score near zero F1 in
  the table above: the lexicon and a larger model have to carry them, and their thresholds
  stay at 0.5 unless the benign budget raised them.
- **Political security** (A1.01-A1.03, A1.05) and **accuracy** (A5.x) have no labeled data
  here: the model has no outputs for them. Rely on the operator's term lists and the policy.
- **Over-refusal:** ordinary questions that look like the risky prompts in the training
  data ("why do some cultures ...", requests starting with "help me write") are its most
  common false positives; the benign tables above measure it. Tune per deployment: raise a
  category's threshold in the policy, or add the operator's own benign prompts to
  `models/training/benign_written.py` and retrain.
- X2 (jailbreak) is learned from JailBench's 20 wrapper templates; the test split holds new
  seed questions in the *same* wrappers, so its X2 recall is optimistic for unseen attacks.
- Responses ([OUT]) are learned from 650 JADE v3 answer pairs and hand-written answers only.
- JADE v3 questions not found in v1/v2 (about 60%) carry the generic code A1.08.
- Sarcasm and context-dependent offence are where it errs most on COLD.
- English is a minority (Davidson tweets, JADE/MultiJail en, hand-written prompts); it is
  weaker there.
- Trained from scratch on ~40k rows: no world knowledge. It keys on wording, so paraphrases
  far from the training data slip through. Homophone and pinyin evasions still cost recall
  (robustness tables); the lexicon's variant expansion covers them for listed terms only.
- bf16 compute is slower than fp32 on CPUs without native bf16 (this one): the weights ship
  as bf16 and the gateway loads them as fp32 there (`dtype: auto`).
"""
