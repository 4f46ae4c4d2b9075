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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.training import sources
from models.training.evaluate import Array, binary, flagged, per_code
from models.training.example import Example, with_direction
from models.training.perturb import Perturber
from models.training.thresholds import any_threshold, f1_thresholds, meet_budget

Scorer = Callable[[Sequence[str]], Array]
# Model inputs -> the "any unsafe" head's probability per text, shape (n,).
AnyScorer = Callable[[Sequence[str]], Array]


@dataclass(frozen=True, slots=True)
class Budgets:
    """Shares of benign validation text the calibrated thresholds may flag: everyday prompts,
    hard-negative prompts (a sensitive subject, asked in good faith), and answers cut off at
    any check of a stream."""

    prompts: float = 0.01
    hard_prompts: float = 0.05
    answers: float = 0.0


# Thresholds per direction: "in" for prompts, "out" for answers (the policy has both).
Thresholds = dict[str, Array]

# Social-media comments: their negatives are judged by accuracy, not counted as "benign
# prompts and answers" (a gateway's over-refusal is about what users and models write).
SOCIAL_MEDIA = frozenset({"COLD", "SWSR", "Davidson"})
# Sources whose benign prompts sit right next to harmful ones: CValues' expert questions on
# law, psychology and discrimination, and the benign halves of the paired data files (each
# written as the counterpart of a harmful prompt on the same topic). They get the looser
# input budget; every other benign prompt (everyday questions, also about health, money or
# safety) is held to the strict one.
HARD_NEGATIVE_SOURCES = frozenset({"CValues", "zh_paired_prompts", "en_paired_prompts"})
# Content-free prompts ("继续", "Go on"): none of the validation ones may be flagged.
SHORT_SOURCES = frozenset({"short_prompts_benign"})
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
# Where a check lands depends on how the upstream chunks its tokens (every 24 characters
# and at each sentence end, counted from chunk boundaries), so any prefix can be one: the
# windows are taken every 4 characters, a sample dense enough that a window scoring over a
# threshold is seen (checks every 40 missed windows the gateway then blocked).
STREAM_STEP = 4


def score_rows(scorer: Scorer, rows: Sequence[Example]) -> Array:
    return scorer([with_direction(r.text, r.direction) for r in rows])


def truth(rows: Sequence[Example], labels: Sequence[str]) -> Array:
    return np.array([[c in r.codes for c in labels] for r in rows], dtype=bool).reshape(
        len(rows), len(labels)
    )


def any_flag(scores: Array, th: Array) -> Array:
    return np.asarray(flagged(scores, th).any(axis=1))


def per_row(rows: Sequence[Example], th: Thresholds) -> Array:
    """One row of thresholds per example, by its direction."""
    if not rows:
        return np.zeros((0, len(th["in"])))
    return np.array([th[r.direction] for r in rows])


def rate(x: Array) -> float:
    return round(float(np.mean(x)), 4) if len(x) else 0.0


def stream_windows(text: str) -> list[str]:
    """What the gateway may score of an answer while it streams: the answer so far from 40
    characters on, every ``STREAM_STEP`` (its last 256 characters once longer), before the
    full answer."""
    return [
        text[max(0, end - STREAM_WINDOW) : end] for end in range(PREFIX_MIN, len(text), STREAM_STEP)
    ]


def benign_pools(rows: Iterable[Example]) -> dict[str, list[Example]]:
    """The benign rows the false-positive budgets are measured on: ``prompts`` (everyday
    benign user prompts), ``hard_prompts`` (benign counterparts of harmful prompts, from
    ``HARD_NEGATIVE_SOURCES``, held to a looser budget)
    and ``answers`` (benign answers, each as a stream shows it: every window the gateway
    checks, then the full answer). Social-media comments are judged by accuracy instead."""
    prompts: list[Example] = []
    hard: list[Example] = []
    answers: list[Example] = []
    for r in rows:
        if r.codes or r.source in SOCIAL_MEDIA:
            continue
        if r.direction == "in":
            (hard if r.source in HARD_NEGATIVE_SOURCES else prompts).append(r)
            continue
        for window in stream_windows(r.text):
            answers.append(
                Example(window, "out", r.codes, r.source + "/stream", r.group, lang=r.lang)
            )
        answers.append(r)
    return {"prompts": prompts, "hard_prompts": hard, "answers": answers}


def calibrate_thresholds(
    scorer: Scorer,
    rows: list[Example],
    labels: list[str],
    budgets: Budgets,
    any_scorer: AnyScorer | None = None,
) -> tuple[Thresholds, dict[str, object]]:
    """Thresholds from the validation split: max F1 per code on every validation row, then
    per direction the benign budgets. Input thresholds are raised until at most
    ``budgets.prompts`` of the everyday benign prompts (each language on its own) and
    ``budgets.hard_prompts`` of the counterpart prompts are flagged; output thresholds are
    raised until at most ``budgets.answers`` of the benign answers would be cut off at any
    check of a stream (every window the gateway scores, then the full answer). With an
    ``any_scorer`` ("any unsafe" head scores of prompts; ``scorer`` then scores without the
    head), the head's threshold is the lowest the budgets leave room for. Reported per pool
    and language."""
    val = [r for r in rows if r.split == "val"]
    scores = score_rows(scorer, val)
    t = truth(val, labels)
    start = f1_thresholds(scores, t)
    pools = benign_pools(val)
    prompt_scores = score_rows(scorer, pools["prompts"])
    hard_scores = score_rows(scorer, pools["hard_prompts"])
    answers, owner = pools["answers"], [r.group for r in pools["answers"]]
    window_scores = score_rows(scorer, answers)
    answer_scores, answer_rows = _max_by(window_scores, answers, owner)
    pos = np.asarray(t.any(axis=1))
    direction = np.array([r.direction for r in val])
    pos_in = scores[pos & (direction == "in")]
    # Each language's prompts meet the budget on their own: pooled, the Chinese majority
    # would let English prompts be flagged several times as often.
    prompt_langs = _by_lang(prompt_scores, pools["prompts"])
    hard_langs = _by_lang(hard_scores, pools["hard_prompts"])
    # With the "any unsafe" head beside them, the per-code outputs need not reach down for
    # weak evidence: a per-code score under INPUT_FLOOR is left to the head, whose single
    # threshold is calibrated on the same budgets.
    start_in = np.maximum(start, INPUT_FLOOR) if any_scorer is not None else start
    th_in, _ = meet_budget(start_in, pos_in, prompt_langs, budgets.prompts)
    th_in, _ = meet_budget(th_in, pos_in, hard_langs, budgets.hard_prompts)
    # Content-free prompts ("继续", "Go on") may not be flagged at all: the few words of a
    # short prompt are otherwise judged as surely as a paragraph's.
    short = np.array([r.source in SHORT_SOURCES for r in pools["prompts"]], dtype=bool)
    th_in, _ = meet_budget(th_in, pos_in, [prompt_scores[short]], 0.0)
    any_t: tuple[float, float] | None = None
    prompt_flags = any_flag(prompt_scores, th_in)
    hard_flags = any_flag(hard_scores, th_in)
    if any_scorer is not None:
        heads = {
            name: any_scorer([with_direction(r.text, "in") for r in pools[name]])
            for name in ("prompts", "hard_prompts")
        }
        base = {"prompts": prompt_flags.copy(), "hard_prompts": hard_flags.copy()}
        any_t = _any_threshold(
            scorer, any_scorer, val, pos, th_in, pools, base, heads, budgets, short
        )
        for name, flags in (("prompts", prompt_flags), ("hard_prompts", hard_flags)):
            latin = np.array([r.lang == "en" for r in pools[name]], dtype=bool)
            flags |= heads[name] >= np.where(latin, any_t[1], any_t[0])
    # Answers: max F1 on the validation answers alone, a code with few harmful answers to
    # tune on starting at ANSWER_FLOOR, and no benign answer window within ANSWER_MARGIN of a
    # threshold (answers the validation split lacks score near the ones it has).
    out = direction == "out"
    start_out = f1_thresholds(scores[out], t[out], floor=ANSWER_FLOOR)
    th_out, fpr_out = meet_budget(
        start_out, scores[pos & out], [answer_scores + ANSWER_MARGIN], budgets.answers
    )
    th = {"in": th_in, "out": th_out}
    flags = np.concatenate([prompt_flags, hard_flags, any_flag(answer_scores, th_out)])
    everything = [*pools["prompts"], *pools["hard_prompts"], *answer_rows]
    by_lang = {
        lang: {"n": int(m.sum()), "fpr": rate(flags[m])}
        for lang in ("zh", "en", "mixed")
        if (m := np.array([r.lang == lang for r in everything])).any()
    }
    return th, {
        "any_threshold": any_t,
        "val_rows": len(val),
        "val_positives": int(pos.sum()),
        "benign_pools": {
            "prompts": {
                "n": len(pools["prompts"]),
                "fpr": rate(prompt_flags),
                "fpr_by_lang": _lang_rates(prompt_flags, pools["prompts"]),
                "budget": budgets.prompts,
            },
            "hard_prompts": {
                "n": len(pools["hard_prompts"]),
                "fpr": rate(hard_flags),
                "fpr_by_lang": _lang_rates(hard_flags, pools["hard_prompts"]),
                "budget": budgets.hard_prompts,
            },
            "answers": {
                "n": len(answer_rows),
                "checks": len(answers),
                "fpr": round(fpr_out, 4),
                "budget": budgets.answers,
            },
        },
        "benign_pool_n": len(everything),
        "benign_pool_fpr": rate(flags),
        "benign_pool_by_lang": by_lang,
    }


_SOCIAL_SLACK = 0.01
ANSWER_FLOOR = 0.5
INPUT_FLOOR = 0.3
ANSWER_MARGIN = 0.05
# A language with fewer benign validation prompts than this is budgeted with the others only
# (1.5% of a few dozen rows is not a rate).
_MIN_POOL = 100


def _by_lang(scores: Array, rows: Sequence[Example]) -> list[Array]:
    """``scores`` split by the rows' language (languages with at least ``_MIN_POOL`` rows),
    plus all rows together."""
    langs = np.array([r.lang for r in rows])
    parts = [scores[langs == lang] for lang in sorted(set(langs.tolist()))]
    return [scores, *(p for p in parts if len(p) >= _MIN_POOL)]


def _any_threshold(
    scorer: Scorer,
    any_scorer: AnyScorer,
    val: list[Example],
    pos: Array,
    th_in: Array,
    pools: dict[str, list[Example]],
    base: dict[str, Array],
    heads: dict[str, Array],
    budgets: Budgets,
    short: Array,
) -> tuple[float, float]:
    """The head's thresholds for text with Chinese characters and text without, each the
    lowest its prompt budgets allow (each language on its own) and its social-media
    comments accept."""
    checks: dict[bool, list[tuple[Array, Array, float]]] = {True: [], False: []}
    latin_short = np.array([r.lang == "en" for r in pools["prompts"]], dtype=bool)
    for script in (False, True):
        k = short & (latin_short == script)
        checks[script].append((base["prompts"][k], heads["prompts"][k], 0.0))
    for name, budget in (("prompts", budgets.prompts), ("hard_prompts", budgets.hard_prompts)):
        langs = np.array([r.lang for r in pools[name]])
        for lang in sorted(set(langs.tolist())):
            m = langs == lang
            if m.sum() >= _MIN_POOL or lang != "mixed":
                checks[lang == "en"].append((base[name][m], heads[name][m], budget))
    # Social-media comments: the Chinese ones (COLD, SWSR) together may not lose accuracy
    # (the head may flag no more benign comments than it adds offensive ones); the English
    # ones (Davidson) may have at most _SOCIAL_SLACK more benign comments flagged, the
    # English side being judged on benign text flagged.
    # Every comment is scored as a prompt, as /v1/moderations scores text.
    m = np.array([r.source in SOCIAL_MEDIA for r in val])
    accuracy: list[tuple[Array, Array, Array]] = []
    if m.any():
        rows = [r for r, keep in zip(val, m, strict=True) if keep]
        as_prompts = [with_direction(r.text, "in") for r in rows]
        flags = any_flag(scorer(as_prompts), th_in)
        head = any_scorer(as_prompts)
        latin = np.array([r.lang == "en" for r in rows])
        truth = pos[m]
        k = latin & ~truth
        if k.sum() >= _MIN_POOL:
            checks[True].append((flags[k], head[k], rate(flags[k]) + _SOCIAL_SLACK))
        k = ~latin
        if k.any():
            accuracy.append((flags[k], head[k], truth[k]))
    return any_threshold(checks[False], accuracy), any_threshold(checks[True])


def _lang_rates(flags: Array, rows: Sequence[Example]) -> dict[str, object]:
    langs = np.array([r.lang for r in rows])
    return {
        lang: {"n": int((langs == lang).sum()), "fpr": rate(flags[langs == lang])}
        for lang in sorted(set(langs.tolist()))
    }


def _max_by(
    scores: Array, rows: Sequence[Example], owner: Sequence[str]
) -> tuple[Array, list[Example]]:
    """Per owner (an answer), the per-code maximum over its rows (its stream checks), and
    one representative row (the full answer, which comes last)."""
    index: dict[str, int] = {}
    for key in owner:
        index.setdefault(key, len(index))
    out = np.zeros((len(index), scores.shape[1]), dtype=scores.dtype)
    np.maximum.at(out, np.array([index[k] for k in owner]), scores)
    last: dict[str, Example] = {k: r for k, r in zip(owner, rows, strict=True)}
    return out, [last[k] for k in index]


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
    scorer: Scorer, rows: list[Example], labels: list[str], thresholds: Thresholds
) -> dict[str, object]:
    """Metrics on the test split: overall, per code, per source, language and direction
    (each row judged by its direction's thresholds)."""
    test = [r for r in rows if r.split == "test"]
    s = score_rows(scorer, test)
    t = truth(test, labels)
    pos = np.asarray(t.any(axis=1))
    th = per_row(test, thresholds)
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


def xsafety(scorer: Scorer, data_dir: Path, th: Thresholds) -> dict[str, dict[str, float]]:
    """Share of XSafety prompts flagged per language and scenario (never trained on), with
    the harmful scenarios pooled as an out-of-domain harmful-prompt recall."""
    out: dict[str, dict[str, float]] = {}
    for lang in ("zh", "en"):
        by_scenario = sources.xsafety(data_dir, lang)
        rates: dict[str, float] = {}
        harmful: list[Array] = []
        for name, texts in by_scenario.items():
            flags = any_flag(scorer([with_direction(t, "in") for t in texts]), th["in"])
            rates[name] = rate(flags)
            if name in XSAFETY_HARMFUL:
                harmful.append(flags)
        if harmful:
            rates["harmful_scenarios_recall"] = rate(np.concatenate(harmful))
        out[lang] = rates
    return out


def stream_answers(scorer: Scorer, thresholds: Thresholds, bank: list[str]) -> dict[str, object]:
    """The streaming test's held-out benign answers, scored as the gateway streams them:
    every prefix it may check (40 characters, then every 4 more, the last 256 characters
    of each) and the full answer. Never trained, calibrated or tuned on."""
    if not bank:
        return {"n": 0}
    th = thresholds["out"]
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


def robustness(
    scorer: Scorer,
    rows: list[Example],
    thresholds: Thresholds,
    perturber: Perturber,
    seed: int,
    cap: int = 600,
) -> dict[str, dict[str, float]]:
    """Recall on held-out zh positives and FPR on held-out zh benign prompts, per variant."""
    pos, neg = robustness_rows(rows, seed, cap)
    th_pos, th_neg = per_row(pos, thresholds), per_row(neg, thresholds)
    out = {}
    for name, (p_text, n_text) in perturbed(pos, neg, perturber, seed).items():
        p = scorer([with_direction(t, r.direction) for t, r in zip(p_text, pos, strict=True)])
        n = scorer([with_direction(t, r.direction) for t, r in zip(n_text, neg, strict=True)])
        out[name] = {
            "recall": rate(any_flag(p, th_pos)),
            "benign_fpr": rate(any_flag(n, th_neg)),
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
