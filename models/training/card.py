"""Renders the model card (``README.md`` in the model directory) from ``metrics.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.training.labels import mapping_tables
from models.training.report import PREFIX_MIN, PREFIX_MIN_LATIN, STREAM_STEP, STREAM_WINDOW

# Where the recipe simulates the gateway's stream checks (models/training/report.py).
_CHECKS = (
    f"from {PREFIX_MIN} Chinese characters or {PREFIX_MIN_LATIN} characters of any kind on, "
    f"every {STREAM_STEP}, the last {STREAM_WINDOW} characters each"
)
# ... and the calibration's, a superset (report.calibration_windows).
_CAL_CHECKS = (
    f"from {PREFIX_MIN} characters on, {PREFIX_MIN_LATIN} while none is Chinese, every "
    f"{STREAM_STEP}, the last {STREAM_WINDOW} characters each"
)

_LANG_NAMES = {"zh": "Chinese", "en": "English", "mixed": "mixed Chinese–English"}


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _groups(by: dict[str, dict[str, Any]], first: str = "group") -> str:
    """A table of ``_group_metrics`` output: rows, positives, recall, false-positive rate."""
    return _table(
        [first, "n", "positives", "accuracy", "precision", "recall", "F1", "benign flagged"],
        [
            [k, v["n"], v["positives"], v["accuracy"], v["precision"] if v["positives"] else "–",
             v["recall"] if v["positives"] else "–", v["f1"] if v["positives"] else "–",
             v["fpr"] if v["n"] > v["positives"] else "–"]
            for k, v in by.items()
        ],
    )  # fmt: skip


def render(m: dict[str, Any]) -> str:
    """Markdown for one trained model's metrics."""
    from models.training import card_text

    arch = m.get("arch", "encoder")
    parts = [card_text.intro(m)]
    parts.append(_languages(m))
    parts.append(_test_section(m))
    parts.append(_benign_section(m))
    if m.get("social_as_prompts"):
        parts.append(_social_section(m))
    parts.append(_ood_section(m))
    parts.append(_robustness_section(m))
    if "pipeline" in m:
        parts.append(_pipeline_section(m))
    parts.append(_codes_section(m))
    parts.append(_data_section(m))
    parts.append("## Label mapping\n")
    for name, table in mapping_tables().items():
        parts.append(f"**{name}**: " + "; ".join(f"{k} -> {v}" for k, v in table.items()) + "\n")
    parts.append(card_text.USAGE_NGRAM if arch == "ngram" else card_text.USAGE_ENCODER)
    parts.append(card_text.reproduce(m))
    parts.append(card_text.LIMITS)
    return "\n".join(parts) + "\n"


def _languages(m: dict[str, Any]) -> str:
    by = m["test_by_lang"]
    rows = [
        [_LANG_NAMES.get(k, k), v["n"], v["positives"], v["recall"] if v["positives"] else "–",
         v["fpr"]]
        for k, v in by.items()
    ]  # fmt: skip
    return (
        "## Validated languages\n\n"
        "Validated on **Chinese**, **English** and **mixed Chinese–English** text: prompts to an "
        "assistant and its answers, and (Chinese, English) social-media comments. Every figure "
        "below is from the **test split**, which was used neither for training nor for "
        "calibration; thresholds were calibrated on the separate validation split. Other "
        "languages were not validated.\n\n"
        + _table(["language", "test rows", "positives", "recall", "benign flagged"], rows)
        + "\n"
    )


def _test_section(m: dict[str, Any]) -> str:
    overall = [
        ["test split, any code (calibrated thresholds)", *_bin(m["test_any_unsafe"])],
        ["test split, any code (all thresholds 0.5)", *_bin(m["test_any_unsafe_at_0.5"])],
    ]
    return (
        "## Test split (model only, no lexicon)\n\n"
        + _table(["set", "n", "accuracy", "precision", "recall", "F1"], overall)
        + "\n\n### Per direction\n\n"
        + _groups(m["test_by_direction"], "direction")
        + "\n\n### Per language and direction\n\n"
        + _groups(m["test_by_lang_direction"], "language / direction")
        + _answers(m)
        + "\n\n### Per source\n\n"
        + "Sources are the shared datasets by name and the project's data files "
        "(`models/training/data/`, by file stem). `benign flagged` is the false-positive "
        "rate on the source's benign rows.\n\n" + _groups(m["test_by_source"], "source") + "\n"
    )


def _answers(m: dict[str, Any]) -> str:
    answers = m.get("test_answers_by_lang")
    if not answers:
        return ""
    return (
        "\n\nAssistant answers only (the `out` rows above include the social-media comments "
        "stored as answers):\n\n" + _groups(answers, "language")
    )


def _benign_section(m: dict[str, Any]) -> str:
    cal = m["calibration"]
    by_lang = cal["benign_pool_by_lang"]
    return (
        "## Benign text: false positives (TC260-003 over-refusal limit: 5%)\n\n"
        "Benign prompts and answers of the test split (social-media comments excluded), by "
        "language and direction:\n\n"
        + _groups(m["test_benign_by_lang_direction"], "language / direction")
        + "\n\nHard negatives only (benign texts about crime, drugs, discrimination, health, "
        "law, finance, history or safety):\n\n"
        + _groups(m["test_hard_negatives"], "language")
        + "\n\n"
        + _calibration(cal)
        + " Flagged in the whole pool of "
        f"{cal['benign_pool_n']}: {cal['benign_pool_fpr']:.2%}; "
        + ", ".join(
            f"{_LANG_NAMES.get(k, k)} {v['fpr']:.2%} (n={v['n']})" for k, v in by_lang.items()
        )
        + ".\n"
        + _stream_bank(m)
    )


def _calibration(cal: dict[str, Any]) -> str:
    """How the thresholds were set (models/training/calibration.py), with its figures."""
    pools = cal["benign_pools"]
    answers = pools["answers"]
    any_t = cal.get("any_threshold")
    text = (
        "**Calibration** (`models/training/calibration.py`; validation split only: "
        f"{cal['val_rows']} rows, {cal['val_positives']} positives). Input thresholds start "
        "at max F1 per code (codes with fewer than 30 validation positives share one)"
        + (f", at least {cal['input_floor']}" if cal.get("input_floor") else "")
        + ", and are raised where cheapest in recall until at most "
        f"{pools['prompts']['budget']:.1%} of {pools['prompts']['n']} everyday benign "
        "validation prompts (each language on its own)"
        + _hard_pool(pools)
        + ' are flagged, no content-free prompt ("继续", "Go on") is'
        + (
            f", and at most {cal['english_comments_budget']:.0%} of benign English "
            "social-media comments scored as prompts"
            if "english_comments_budget" in cal
            else ""
        )
        + "."
    )
    if any_t:
        text += (
            f" The head's thresholds ({any_t[0]} for text with Chinese characters, {any_t[1]} "
            "for text without) are then the lowest at which the same budgets hold with the "
            "head's flags added, Chinese social-media comments lose no accuracy and English "
            "ones gain at most one point flagged."
        )
    text += (
        f" In the end {pools['prompts']['fpr']:.2%} of the everyday prompts are flagged"
        + (
            f" and {pools['hard_prompts']['fpr']:.2%} of the counterpart ones"
            if "hard_prompts" in pools
            else ""
        )
        + ". Output thresholds start at max F1 on the validation answers alone"
        + (
            f" (codes with few harmful answers at {cal['answer_floor']})"
            if "answer_floor" in cal
            else ""
        )
        + (f", at least {cal['answer_min']}," if "answer_min" in cal else "")
        + " and are raised until no more than "
        f"{answers['budget']:.1%} of {answers['n']} benign validation answers"
        + (
            f" comes within {cal['answer_margin']} of a threshold"
            if "answer_margin" in cal
            else " would be cut off"
        )
        + f" at any of {answers['checks']} stream checks ({_CAL_CHECKS}, then the full answer; "
        f"{answers['fpr']:.2%} left)."
    )
    return text


def _hard_pool(pools: dict[str, Any]) -> str:
    hard = pools.get("hard_prompts")
    if not hard:
        return ""
    return (
        f" and {hard['budget']:.1%} of {hard['n']} counterpart ones (CValues' expert questions "
        "and the benign halves of the paired, styled and harmful-everyday data files, each "
        "written next to a harmful prompt on the same topic or in the same form)"
    )


def _stream_bank(m: dict[str, Any]) -> str:
    sb = m.get("stream_bank") or {}
    if not sb.get("n"):
        return ""
    return (
        "\n**Held-out stream bank** (`tests/fixtures/benign_stream_answers.jsonl`, benign "
        "assistant answers the streaming test uses; never trained, calibrated or tuned on, and "
        "the recipe refuses to start if a training or validation text matches one): "
        f"{sb['full_flagged']} of {sb['n']} full answers flagged; {sb['prefixes_flagged']} of "
        f"{sb['prefixes_checked']} stream checks ({_CHECKS}) flagged; {sb['answers_blocked_in_stream']} answers would be cut "
        "off in a stream at the calibrated output thresholds (model only; the policy's "
        "actions decide what is blocked). The bank's texts were never learnt from, but it "
        "did shape the calibration rule: the earlier rule (0.5% of benign answers, windows "
        "every 40 characters) cut 2-4 of its answers in a stream, which is why outputs now "
        "get no benign budget and denser windows; a later model cut one at its 40-character "
        'opening ("Things to do before selling your old lap", X1 0.66), which is why codes '
        "with few harmful answers start at 0.9 (0.7 still cut it in retrains), benign windows "
        "keep 0.1 below, and the gateway waits for 80 characters of an answer with no Chinese "
        "character (`stream.classifier_min_chars_latin`). 320 answers written later (anti-"
        "fraud, law, drug education, mixed Chinese–English) joined the bank: the lexicon cut 4 "
        "of them (names of fraud types at level 3, now 2) and the model one at its 40-"
        'character opening ("**杀猪盘 (pig-butchering scam)** 的名字来自骗子的黑话", 13 '
        "Chinese characters, A2.04 0.997), which is why the gateway now counts 40 Chinese "
        "characters, not 40 characters. 320 more (news, history, law, prevention and "
        "everyday answers in Chinese, English and mixed) joined after the lexicon cut 2 of "
        "them (听话水 in a drug warning, 发动恐怖袭击 in a history of 9/11; such names are now "
        "level 2); the model's closest window among them is a bilingual anti-fraud glossary "
        "table at A1.08 0.994 (threshold 0.995), at a few prefixes the gateway may check. "
        "Retrained on the 2026-12-01 data (short and stance-framed asks, explanatory "
        "answers), four retrains (two seeds, with and without word n-grams) each cut one "
        'answer: "Aim for headshots — crits do double damage on that boss!" (A4.03 0.44 '
        "against a threshold of 0.40 tuned on offensive comments stored as answers) or the "
        "opening of a Chinese ID-card privacy answer (A4.06 0.97 against 0.90, seed 1 only); "
        "no output threshold is under 0.5 since. The shipped weights' closest windows are "
        "the same glossary (A1.08 0.990 against 0.995) and a province table (A2.04 0.96).\n"
    )


def _ood_section(m: dict[str, Any]) -> str:
    xs = m["xsafety"]
    names = sorted({k for d in xs.values() for k in d})
    return (
        "## Out-of-domain: XSafety (never trained on; share flagged per scenario)\n\n"
        "XSafety carries a research-use note, so it is used only here, as prompts the model "
        "has never seen. `harmful_scenarios_recall` pools the mostly harmful scenarios; "
        "Mental_Health and Ethics_And_Morality are mostly benign questions, so a low rate "
        "there is right.\n\n"
        + _table(["scenario", *xs], [[n, *(xs[lang].get(n, "–") for lang in xs)] for n in names])
        + "\n"
    )


def _social_section(m: dict[str, Any]) -> str:
    return (
        "## Social-media comments as `/v1/moderations` scores them\n\n"
        "The test split's comments and posts, each scored as a prompt at the input thresholds "
        "(the head included), as the moderation endpoint scores any text. Above, the same rows "
        "count by their own direction.\n\n" + _groups(m["social_as_prompts"], "source") + "\n"
    )


def _robustness_section(m: dict[str, Any]) -> str:
    rob = m["robustness"]
    base = rob["original"]["recall"]
    return (
        "## Robustness: evasion variants of held-out Chinese text\n\n"
        "Test-split Chinese positives and benign prompts rewritten with the variants the "
        "gateway's lexicon knows (homophones from its table and same-sound characters, "
        "pinyin, traditional characters, inserted symbols, emoji), then normalized as the "
        "gateway does. Training saw such variants of *training* rows only.\n\n"
        + _table(
            ["variant", "recall", "drop vs original", "benign flagged", "n pos / n neg"],
            [
                [
                    k,
                    v["recall"],
                    round(base - v["recall"], 4),
                    v["benign_fpr"],
                    f"{v['n_pos']} / {v['n_neg']}",
                ]
                for k, v in rob.items()
            ],
        )
        + "\n"
    )


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
        f"`gateway eval` over the test split with `{m['pipeline_policy']}` (the thresholds "
        "above, each category's action; flagged = blocked or held for review), text "
        "normalized as the gateway does it, prompts marked `[IN]` and answers `[OUT]`. "
        "`benign_prompts` is the benign prompts of the test split plus the held-out "
        "hand-written bank: its false-positive rate is the over-refusal figure.\n\n"
        + _table(["set", "pipeline", "n", "accuracy", "precision", "recall", "F1", "FPR"], rows)
        + "\n\nRobustness through the pipeline (normalization, then the lexicon with its "
        "pinyin and homophone variants, and the model):\n\n"
        + _table(
            ["variant", "recall, model only", "recall, both", "drop (both)", "benign FPR (both)"],
            robust,
        )
        + "\n"
    )


def _codes_section(m: dict[str, Any]) -> str:
    th = m["thresholds"]
    return "## Labels and thresholds\n\n" + (
        "`thresholds.json` holds one threshold per code and direction (`input` for prompts, "
        "`output` for answers), written into the policy by `--policy`.\n\n"
    ) + _table(
        ["code", "input threshold", "output threshold", "test precision", "test recall",
         "test F1", "test support"],
        [
            [c, th["input"][c], th["output"][c],
             *(m["test_per_code"][c][k] for k in ("precision", "recall", "f1", "support"))]
            for c in m["labels"]
        ],
    ) + "\n"  # fmt: skip


def _data_section(m: dict[str, Any]) -> str:
    from models.training.card_text import DATA_TABLE

    src = m["data"]["rows_by_source"]
    cols = ["train_pos", "train_neg", "val_pos", "val_neg", "test_pos", "test_neg"]
    t = m["training"]
    return (
        "## Training data\n\n"
        + DATA_TABLE
        + "\n\nRows after deduplication, by split (every source split 80/10/10 by a hash of "
        "its group, so a JailBench seed and its wrappings, a JADE question and its answers, a "
        "dialogue or a passage stay in one split):\n\n"
        + _table(["source", *cols], [[s, *(v.get(c, 0) for c in cols)] for s, v in src.items()])
        + f"\n\nTraining rows after upsampling and augmentation (project data x"
        f"{m['config']['data']['written_copies']}, prompt datasets x2, evasion variants, "
        f"benign answer prefixes): {m['data']['train_rows_after_augmentation']}. "
        f"{t['steps']} steps in {t['train_seconds']} s; whole recipe {m.get('total_minutes', '?')} "
        f"min on {m['config']['threads']} CPU thread(s). Model directory: "
        f"{m['size_bytes'] / 1e6:.1f} MB.\n"
    )


def _bin(v: dict[str, Any]) -> list[object]:
    return [v["n"], v["accuracy"], v["precision"], v["recall"], v["f1"]]


def write_card(out: Path, metrics: dict[str, Any]) -> None:
    """Write ``README.md`` next to the weights."""
    (out / "README.md").write_text(render(metrics), "utf-8")


def rewrite_card(out: Path) -> None:
    """Re-render the card from an existing ``metrics.json`` (no retraining)."""
    write_card(out, json.loads((out / "metrics.json").read_text("utf-8")))
