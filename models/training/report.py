"""The evaluation suite the model card quotes: calibrated thresholds, test-split metrics per
source, language and direction, benign false-positive rates, out-of-domain XSafety,
robustness to evasions, and the held-out stream bank.

Every function takes a ``Scorer``: model inputs (direction marker + normalized text, as
:func:`example.with_direction` builds them) -> sigmoid scores, shape (n, labels), a text's
score being the maximum over its windows as in the gateway. Nothing here trains or tunes on
the test split, XSafety or the stream bank; only :func:`calibrate_thresholds` reads ``val``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from models.training import sources, stream_bank
from models.training.evaluate import Array, binary, calibrate, flagged, per_code
from models.training.example import Example, with_direction
from models.training.perturb import Perturber

Scorer = Callable[[Sequence[str]], Array]

# Social-media comments: their negatives are judged by accuracy, not counted as "benign
# prompts and answers" (a gateway's over-refusal is about what users and models write).
SOCIAL_MEDIA = frozenset({"COLD", "SWSR", "Davidson"})
# XSafety scenarios whose prompts are mostly harmful / mostly benign questions.
XSAFETY_HARMFUL = (
    "Crimes_And_Illegal_Activities",
    "Insult",
    "Privacy_And_Property",
    "Physical_Harm",
    "Unfairness_And_Discrimination",
    "Goal_Hijacking",
    "Role_Play_Instruction",
    "Prompt_Leaking",
    "Reverse_Exposure",
    "Unsafe_Instruction_Topic",
    "Inquiry_With_Unsafe_Opinion",
)
XSAFETY_MOSTLY_BENIGN = ("Mental_Health", "Ethics_And_Morality")
PREFIX_MIN = 40  # stream.classifier_min_chars: the gateway's first look at an answer
STREAM_WINDOW = 256  # stream.classifier_window_chars: what it scores of a long answer


def score_rows(scorer: Scorer, rows: Sequence[Example]) -> Array:
    return scorer([with_direction(r.text, r.direction) for r in rows])


def truth(rows: Sequence[Example], labels: Sequence[str]) -> Array:
    return np.array([[c in r.codes for c in labels] for r in rows], dtype=bool).reshape(
        len(rows), len(labels)
    )


def any_flag(scores: Array, th: Array) -> Array:
    return np.asarray(flagged(scores, th).any(axis=1))


def rate(x: Array) -> float:
    return round(float(np.mean(x)), 4) if len(x) else 0.0


def stream_windows(text: str) -> list[str]:
    """What the gateway scores of an answer while it streams: the answer so far every 40
    characters (its last 256 characters once longer), before the full answer."""
    return [
        text[max(0, end - STREAM_WINDOW) : end] for end in range(PREFIX_MIN, len(text), PREFIX_MIN)
    ]


def benign_pools(rows: Iterable[Example]) -> dict[str, list[Example]]:
    """The benign rows the false-positive budget is measured on, in two pools that must
    each meet it: ``prompts`` (benign user prompts) and ``answers`` (benign answers, each as
    a stream shows it: every window the gateway checks, then the full answer). Social-media
    comments are judged by accuracy instead."""
    prompts: list[Example] = []
    answers: list[Example] = []
    for r in rows:
        if r.codes or r.source in SOCIAL_MEDIA:
            continue
        if r.direction == "in":
            prompts.append(r)
            continue
        for window in stream_windows(r.text):
            answers.append(
                Example(window, "out", r.codes, r.source + "/stream", r.group, lang=r.lang)
            )
        answers.append(r)
    return {"prompts": prompts, "answers": answers}


def calibrate_thresholds(
    scorer: Scorer, rows: list[Example], labels: list[str], fpr_budget: float
) -> tuple[Array, dict[str, object]]:
    """Thresholds from the validation split (see ``evaluate.calibrate``): max F1 per code,
    then the benign budget on each validation benign pool, reported per pool and language."""
    val = [r for r in rows if r.split == "val"]
    scores = score_rows(scorer, val)
    pools = benign_pools(val)
    pool_scores = {name: score_rows(scorer, pool) for name, pool in pools.items()}
    th, fpr = calibrate(scores, truth(val, labels), list(pool_scores.values()), fpr_budget)
    everything = [r for pool in pools.values() for r in pool]
    flags = np.concatenate([any_flag(s, th) for s in pool_scores.values()])
    by_lang = {
        lang: {"n": int(m.sum()), "fpr": rate(flags[m])}
        for lang in ("zh", "en", "mixed")
        if (m := np.array([r.lang == lang for r in everything])).any()
    }
    return th, {
        "val_rows": len(val),
        "val_positives": int(sum(bool(r.codes) for r in val)),
        "benign_pool_n": len(everything),
        "benign_pool_fpr": rate(flags),
        "benign_pools": {
            name: {"n": len(pools[name]), "fpr": rate(any_flag(s, th))}
            for name, s in pool_scores.items()
        },
        "benign_pool_max_fpr": round(fpr, 4),
        "benign_pool_by_lang": by_lang,
    }


def _group_metrics(
    rows: Sequence[Example], flags: Array, key: Callable[[Example], str]
) -> dict[str, dict[str, float]]:
    """Per group: binary metrics plus recall on positives and false-positive rate."""
    pos = np.array([bool(r.codes) for r in rows])
    out: dict[str, dict[str, float]] = {}
    for name in sorted({key(r) for r in rows}):
        m = np.array([key(r) == name for r in rows])
        metrics = binary(flags[m], pos[m])
        metrics["positives"] = int(pos[m].sum())
        metrics["fpr"] = rate(flags[m & ~pos])
        out[name] = metrics
    return out


def held_out(
    scorer: Scorer, rows: list[Example], labels: list[str], th: Array
) -> dict[str, object]:
    """Metrics on the test split: overall, per code, per source, language and direction."""
    test = [r for r in rows if r.split == "test"]
    s = score_rows(scorer, test)
    t = truth(test, labels)
    pos = np.asarray(t.any(axis=1))
    flags = any_flag(s, th)
    benign = [r for r in test if not r.codes and r.source not in SOCIAL_MEDIA]
    bflags = flags[np.array([not r.codes and r.source not in SOCIAL_MEDIA for r in test])]
    return {
        "test_any_unsafe": binary(flags, pos),
        "test_any_unsafe_at_0.5": binary(any_flag(s, np.full(len(labels), 0.5)), pos),
        "test_per_code": per_code(s, t, th, labels),
        "test_by_source": _group_metrics(test, flags, lambda r: r.source),
        "test_by_lang": _group_metrics(test, flags, lambda r: str(r.lang)),
        "test_by_direction": _group_metrics(test, flags, lambda r: r.direction),
        "test_by_lang_direction": _group_metrics(test, flags, lambda r: f"{r.lang}/{r.direction}"),
        "test_benign_by_lang_direction": _group_metrics(
            benign, bflags, lambda r: f"{r.lang}/{r.direction}"
        ),
        "test_hard_negatives": _group_metrics(
            [r for r in benign if "hard_negative" in r.tags],
            bflags[np.array(["hard_negative" in r.tags for r in benign], dtype=bool)],
            lambda r: str(r.lang),
        ),
    }


def xsafety(scorer: Scorer, data_dir: Path, th: Array) -> dict[str, dict[str, float]]:
    """Share of XSafety prompts flagged per language and scenario (never trained on), with
    the harmful scenarios pooled as an out-of-domain harmful-prompt recall."""
    out: dict[str, dict[str, float]] = {}
    for lang in ("zh", "en"):
        by_scenario = sources.xsafety(data_dir, lang)
        rates: dict[str, float] = {}
        harmful: list[Array] = []
        for name, texts in by_scenario.items():
            flags = any_flag(scorer([with_direction(t, "in") for t in texts]), th)
            rates[name] = rate(flags)
            if name in XSAFETY_HARMFUL:
                harmful.append(flags)
        if harmful:
            rates["harmful_scenarios_recall"] = rate(np.concatenate(harmful))
        out[lang] = rates
    return out


def stream_answers(scorer: Scorer, th: Array, bank: list[str]) -> dict[str, object]:
    """The streaming test's held-out benign answers, scored as the gateway streams them:
    every prefix it would check (40 characters, then each 40 more, the last 256 characters
    of each) and the full answer. Never trained, calibrated or tuned on."""
    if not bank:
        return {"n": 0}
    full = any_flag(scorer([with_direction(t, "out") for t in bank]), th)
    prefixes: list[str] = []
    owner: list[int] = []
    for i, text in enumerate(bank):
        windows = stream_windows(text)
        prefixes += windows
        owner += [i] * len(windows)
    pflags = any_flag(scorer([with_direction(t, "out") for t in prefixes]), th)
    answers_with_flagged_prefix = {owner[j] for j in np.nonzero(pflags)[0]}
    flagged_full = [bank[i][:80] for i in np.nonzero(full)[0]]
    return {
        "n": len(bank),
        "full_flagged": int(full.sum()),
        "prefixes_checked": len(prefixes),
        "prefixes_flagged": int(pflags.sum()),
        "answers_blocked_in_stream": len(answers_with_flagged_prefix | set(np.nonzero(full)[0])),
        "examples": flagged_full[:5]
        + [bank[i][:80] for i in sorted(answers_with_flagged_prefix)][:5],
    }


def stream_bank_report(scorer: Scorer, th: Array) -> dict[str, object]:
    return stream_answers(scorer, th, stream_bank.load_bank())


def robustness(
    scorer: Scorer,
    rows: list[Example],
    th: Array,
    perturber: Perturber,
    seed: int,
    cap: int = 600,
) -> dict[str, dict[str, float]]:
    """Recall on held-out zh positives and FPR on held-out zh benign prompts, per variant."""
    pos, neg = robustness_rows(rows, seed, cap)
    out = {}
    for name, (p_text, n_text) in perturbed(pos, neg, perturber, seed).items():
        p = scorer([with_direction(t, r.direction) for t, r in zip(p_text, pos, strict=True)])
        n = scorer([with_direction(t, r.direction) for t, r in zip(n_text, neg, strict=True)])
        out[name] = {
            "recall": rate(any_flag(p, th)),
            "benign_fpr": rate(any_flag(n, th)),
            "n_pos": len(pos),
            "n_neg": len(neg),
        }
    return out


def robustness_rows(
    rows: list[Example], seed: int, cap: int
) -> tuple[list[Example], list[Example]]:
    """The held-out zh positives (a seeded sample of at most ``cap``) and zh benign prompts
    (at most ``cap``) the robustness figures are measured on."""
    rng = random.Random(seed)
    zh = [r for r in rows if r.split == "test" and r.lang == "zh"]
    pos = [r for r in zh if r.codes]
    neg = [r for r in zh if not r.codes and r.source not in SOCIAL_MEDIA and r.direction == "in"]
    return rng.sample(pos, min(cap, len(pos))), rng.sample(neg, min(cap, len(neg)))


def perturbed(
    pos: list[Example], neg: list[Example], perturber: Perturber, seed: int
) -> dict[str, tuple[list[str], list[str]]]:
    """Per variant ("original" first), the perturbed texts of ``pos`` and of ``neg``."""
    out = {}
    for name, fn in {"original": None, **perturber.variants}.items():
        vr = random.Random(seed)
        p_text = [r.text if fn is None else fn(r.text, vr) for r in pos]
        n_text = [r.text if fn is None else fn(r.text, vr) for r in neg]
        out[name] = (p_text, n_text)
    return out
