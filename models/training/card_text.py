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

- **Where it is useful today:** regional, ethnic/racial and gender discrimination in
  Chinese (COLD/SWSR-style text, F1 0.40-0.73 per code) and jailbreak wrappers (X2). For most
  prompt-harm codes (A1.x, A3.x, A4.x) per-code test F1 is near 0: the 0.8-epoch schedule that
  fits this shared 2-core machine is too short for the ~100-row classes. Use the lexicon and a
  larger model for those; the thresholds of codes the model never got right stay at 0.5.
- On this CPU, bf16 *compute* was ~10x slower than fp32 (1 thread); the weights are stored in
  bf16 (score difference <= 0.002) and should be run in fp32 here.
- Benign hand-written prompts about targeted groups ("女生学计算机专业有前途吗？") are flagged
  more often than CValues prompts (8% vs 1.5% on small sets).

- Political-security categories A1.01-A1.03, A1.05 and A5.x have no (or too little) labeled
  data here; the model has no outputs for them. Rely on the lexicon and policy for those.
- Codes with few training rows (the A3 commercial codes, A4.02, A2.02-A2.08 ~100 rows each,
  mostly JailBench/JADE prompts) are learned from a narrow set of phrasings; treat their
  scores as weak signals. Test metrics for them rest on a few dozen rows.
- X2 (jailbreak) is learned from JailBench's 20 wrapper templates; the test split holds new
  seed questions in the *same* wrappers, so its X2 recall is optimistic for unseen attacks.
- Responses ([OUT]) are learned only from 650 JADE v3 answer pairs and templated answers.
- JADE v3 questions not found in v1/v2 (about 60%) carry the generic code A1.08.
- Social-media offensiveness (COLD, SWSR) is the largest training domain; sarcasm and
  context-dependent offence are where it errs most (see COLD dev numbers).
- English is a minority (Davidson tweets, JADE/MultiJail en, templates); it is weaker.
- Trained from scratch on ~40k rows: no world knowledge. It keys on wording, so paraphrases
  far from the training data can slip through, and benign text full of topic words from the
  hate-speech data (regions, ethnic groups, gender) can be flagged.
- The robustness table shows the drop for evasion variants; the gateway normalizes text
  (traditional -> simplified, symbol and space stripping) before the classifier, which
  removes much of that drop.
"""
