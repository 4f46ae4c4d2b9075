"""Thresholds from the validation split, the only split this module reads.

Per direction: input thresholds (prompts) start at max F1 per code and are raised until
the benign prompt pools are within their budgets, then the "any unsafe" head's thresholds
(:mod:`models.ngram_any`) are set as low as the budgets left over allow; output thresholds
(answers) start at max F1 on the validation answers and are raised until no benign answer
would be cut off at any check of a stream. The pure threshold arithmetic is in
:mod:`models.training.thresholds`; this module decides which rows go into which pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from models.training.evaluate import Array
from models.training.example import Example, with_direction
from models.training.report import (
    SOCIAL_MEDIA,
    Scorer,
    Thresholds,
    any_flag,
    calibration_windows,
    rate,
    score_rows,
    truth,
)
from models.training.thresholds import any_threshold, f1_thresholds, meet_budget

# Model inputs -> the "any unsafe" head's probability per text, shape (n,).
AnyScorer = Callable[[Sequence[str]], Array]


@dataclass(frozen=True, slots=True)
class Budgets:
    """Shares of benign validation text the calibrated thresholds may flag: everyday prompts,
    hard-negative prompts (a sensitive subject, asked in good faith), and answers cut off at
    any check of a stream."""

    prompts: float = 0.015
    hard_prompts: float = 0.05
    answers: float = 0.0
    # Benign English social-media comments scored as prompts, flagged by the per-code outputs
    # (the head may add _SOCIAL_SLACK): public English moderation data is judged at 10%.
    english_comments: float = 0.06


# Sources whose benign prompts sit right next to harmful ones: CValues' expert questions on
# law, psychology and discrimination, and the benign halves of the paired, styled,
# harmful-everyday and asks data files (each written as the counterpart of a harmful prompt
# on the same topic or in the same form). They get the looser input budget; every other benign
# prompt (everyday questions, also about health, money or safety) is held to the strict one.
HARD_NEGATIVE_SOURCES = frozenset(
    {
        "CValues",
        "zh_paired_prompts",
        "en_paired_prompts",
        "zh_styled_prompts_a",
        "zh_styled_prompts_b",
        "en_styled_prompts_a",
        "en_styled_prompts_b",
        "zh_harmful_everyday",
        "en_harmful_everyday",
        "zh_asks_direct",
        "en_asks_direct",
        "zh_asks_subtle",
        "en_asks_subtle",
    }
)
# Content-free prompts ("继续", "Go on"): none of the validation ones may be flagged.
SHORT_SOURCES = frozenset({"short_prompts_benign"})

# The English social-media comments (Davidson, en_social_text) may have at most this many
# more benign comments flagged once the head is on (English is judged on benign text flagged).
_SOCIAL_SLACK = 0.01
# A per-code answer threshold tuned on few harmful answers starts here: such a threshold is a
# guess, and at 0.5 and 0.7 retrains cut held-out benign answers at their 40-character
# English opening ("... selling your old lap" read as X1 through "old" + "lap"); at 0.9 the
# test split's output recall was unchanged (those codes catch few harmful answers anyway).
# Since English answers are first judged at 80 characters, 0.7 changes nothing measurable
# either (same output recall on the shipped weights), so it stays at the safer 0.9.
ANSWER_FLOOR = 0.9
# No answer is cut on a score under this, however many harmful answers a code has: the codes
# tuned lowest (A4.03, A2.09, at 0.35-0.45) learnt "harmful answer" from offensive social-media
# comments stored as answers, and a benign English answer of a few words could reach them
# ("Aim for headshots - crits do double damage on that boss!", A4.03 0.44 in one retrain).
ANSWER_MIN = 0.5
# With the head beside them, per-code input scores under this are left to the head.
INPUT_FLOOR = 0.3
# No benign validation answer window may score within this of an output threshold.
ANSWER_MARGIN = 0.1
# A language with fewer benign validation prompts than this is budgeted with the others only
# (1.5% of a few dozen rows is not a rate).
_MIN_POOL = 100


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
        # Each answer is one owner of its windows (answers may share a topic group).
        owner = f"{r.group}#{len(answers)}"
        for window in calibration_windows(r.text):
            answers.append(
                Example(window, "out", r.codes, r.source + "/stream", owner, lang=r.lang)
            )
        answers.append(replace(r, group=owner))
    return {"prompts": prompts, "hard_prompts": hard, "answers": answers}


@dataclass(frozen=True, slots=True)
class _Validation:
    """The validation split scored once: every row, its truth, and the benign pools."""

    rows: list[Example]
    scores: Array
    truth: Array
    pools: dict[str, list[Example]]
    pool_scores: dict[str, Array]

    @property
    def positive(self) -> Array:
        return np.asarray(self.truth.any(axis=1))

    @property
    def direction(self) -> Array:
        return np.array([r.direction for r in self.rows])


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
    pools = benign_pools(val)
    v = _Validation(
        rows=val,
        scores=score_rows(scorer, val),
        truth=truth(val, labels),
        pools=pools,
        pool_scores={name: score_rows(scorer, part) for name, part in pools.items()},
    )
    th_in, flags_in, any_t = _input_thresholds(scorer, v, budgets, any_scorer)
    th_out, fpr_out, answer_flags, answer_rows = _output_thresholds(v, budgets)
    flags = np.concatenate([flags_in["prompts"], flags_in["hard_prompts"], answer_flags])
    everything = [*pools["prompts"], *pools["hard_prompts"], *answer_rows]
    by_lang = {
        lang: {"n": int(m.sum()), "fpr": rate(flags[m])}
        for lang in ("zh", "en", "mixed")
        if (m := np.array([r.lang == lang for r in everything])).any()
    }
    prompt_pools = {
        name: {
            "n": len(pools[name]),
            "fpr": rate(flags_in[name]),
            "fpr_by_lang": _lang_rates(flags_in[name], pools[name]),
            "budget": budget,
        }
        for name, budget in (("prompts", budgets.prompts), ("hard_prompts", budgets.hard_prompts))
    }
    answer_pool = {
        "n": len(answer_rows),
        "checks": len(pools["answers"]),
        "fpr": round(fpr_out, 4),
        "budget": budgets.answers,
    }
    return {"in": th_in, "out": th_out}, {
        "any_threshold": any_t,
        "english_comments_budget": budgets.english_comments,
        "input_floor": INPUT_FLOOR if any_scorer is not None else 0.0,
        "answer_floor": ANSWER_FLOOR,
        "answer_min": ANSWER_MIN,
        "answer_margin": ANSWER_MARGIN,
        "val_rows": len(val),
        "val_positives": int(v.positive.sum()),
        "benign_pools": {**prompt_pools, "answers": answer_pool},
        "benign_pool_n": len(everything),
        "benign_pool_fpr": rate(flags),
        "benign_pool_by_lang": by_lang,
    }


@dataclass(frozen=True, slots=True)
class _Social:
    """The validation split's social-media comments, each scored as a prompt (as
    ``/v1/moderations`` scores text): per-code scores, head scores, truth, script."""

    scores: Array
    head: Array
    positive: Array
    latin: Array

    @classmethod
    def score(cls, scorer: Scorer, any_scorer: AnyScorer | None, v: _Validation) -> _Social:
        m = np.array([r.source in SOCIAL_MEDIA for r in v.rows], dtype=bool)
        rows = [r for r, keep in zip(v.rows, m, strict=True) if keep]
        as_prompts = [with_direction(r.text, "in") for r in rows]
        n_labels = v.scores.shape[1]
        return cls(
            scores=scorer(as_prompts) if rows else np.zeros((0, n_labels)),
            head=any_scorer(as_prompts) if any_scorer and rows else np.zeros(len(rows)),
            positive=v.positive[m],
            latin=_latin(rows),
        )

    @property
    def english_benign(self) -> Array:
        return np.asarray(self.latin & ~self.positive)


def _input_thresholds(
    scorer: Scorer, v: _Validation, budgets: Budgets, any_scorer: AnyScorer | None
) -> tuple[Array, dict[str, Array], tuple[float, float] | None]:
    """Per-code input thresholds, the prompts each pool then has flagged (head included),
    and the head's thresholds (text with Chinese characters, text without)."""
    social = _Social.score(scorer, any_scorer, v)
    # With the "any unsafe" head beside them, the per-code outputs need not reach down for
    # weak evidence: a per-code score under INPUT_FLOOR is left to the head, whose own
    # threshold is calibrated on the same budgets.
    floor = INPUT_FLOOR if any_scorer is not None else 0.0
    th_in = _per_code_inputs(v, social, budgets, floor)
    flags = {n: any_flag(v.pool_scores[n], th_in) for n in ("prompts", "hard_prompts")}
    if any_scorer is None:
        return th_in, flags, None
    heads = {
        name: any_scorer([with_direction(r.text, "in") for r in v.pools[name]])
        for name in ("prompts", "hard_prompts")
    }
    any_t = _any_threshold(v, social, th_in, flags, heads, budgets)
    for name in ("prompts", "hard_prompts"):
        latin = _latin(v.pools[name])
        flags[name] = flags[name] | (heads[name] >= np.where(latin, any_t[1], any_t[0]))
    return th_in, flags, any_t


def _per_code_inputs(v: _Validation, social: _Social, budgets: Budgets, floor: float) -> Array:
    """Per-code input thresholds from max F1 (at least ``floor``), raised until each prompt
    pool is within its budget and English benign comments within theirs."""
    pools, pool_scores = v.pools, v.pool_scores
    pos_in = v.scores[v.positive & (v.direction == "in")]
    th_in = np.maximum(f1_thresholds(v.scores, v.truth), floor)
    # Each language's prompts meet the budget on their own: pooled, the Chinese majority
    # would let English prompts be flagged several times as often.
    th_in, _ = meet_budget(
        th_in, pos_in, _by_lang(pool_scores["prompts"], pools["prompts"]), budgets.prompts
    )
    th_in, _ = meet_budget(
        th_in,
        pos_in,
        _by_lang(pool_scores["hard_prompts"], pools["hard_prompts"]),
        budgets.hard_prompts,
    )
    # English benign comments: mostly tweets (Davidson), whose benign side the per-code
    # outputs flagged 10-13% of as prompts before this budget.
    english = social.scores[social.english_benign]
    if len(english) >= _MIN_POOL:
        th_in, _ = meet_budget(th_in, pos_in, [english], budgets.english_comments)
    # Content-free prompts ("继续", "Go on") may not be flagged at all: the few words of a
    # short prompt are otherwise judged as surely as a paragraph's.
    short = _short(pools["prompts"])
    th_in, _ = meet_budget(th_in, pos_in, [pool_scores["prompts"][short]], 0.0)
    return th_in


def _latin(rows: Sequence[Example]) -> Array:
    """Rows without Chinese characters: judged at the head's second threshold."""
    return np.array([r.lang == "en" for r in rows], dtype=bool)


def _short(rows: Sequence[Example]) -> Array:
    return np.array([r.source in SHORT_SOURCES for r in rows], dtype=bool)


def _output_thresholds(
    v: _Validation, budgets: Budgets
) -> tuple[Array, float, Array, list[Example]]:
    """Output thresholds, the share of benign answers they leave cut off in a stream, and
    per benign answer whether it is (with the answer rows, in the same order).

    Max F1 on the validation answers alone (at least ANSWER_MIN), a code with few harmful
    answers to tune on starting at ANSWER_FLOOR, and no benign answer window within
    ANSWER_MARGIN of a threshold (answers the validation split lacks score near the ones it
    has)."""
    answers = v.pools["answers"]
    answer_scores, answer_rows = _max_by(
        v.pool_scores["answers"], answers, [r.group for r in answers]
    )
    out = v.direction == "out"
    start_out = np.maximum(
        f1_thresholds(v.scores[out], v.truth[out], floor=ANSWER_FLOOR), ANSWER_MIN
    )
    th_out, fpr_out = meet_budget(
        start_out, v.scores[v.positive & out], [answer_scores + ANSWER_MARGIN], budgets.answers
    )
    return th_out, fpr_out, any_flag(answer_scores, th_out), answer_rows


def _by_lang(scores: Array, rows: Sequence[Example]) -> list[Array]:
    """``scores`` split by the rows' language (languages with at least ``_MIN_POOL`` rows),
    plus all rows together."""
    langs = np.array([r.lang for r in rows])
    parts = [scores[langs == lang] for lang in sorted(set(langs.tolist()))]
    return [scores, *(p for p in parts if len(p) >= _MIN_POOL)]


def _any_threshold(
    v: _Validation,
    social: _Social,
    th_in: Array,
    base: dict[str, Array],
    heads: dict[str, Array],
    budgets: Budgets,
) -> tuple[float, float]:
    """The head's thresholds for text with Chinese characters and text without, each the
    lowest its prompt budgets allow (each language on its own) and its social-media
    comments accept."""
    pools = v.pools
    checks: dict[bool, list[tuple[Array, Array, float]]] = {True: [], False: []}
    short = _short(pools["prompts"])
    latin_short = _latin(pools["prompts"])
    for script in (False, True):
        k = short & (latin_short == script)
        checks[script].append((base["prompts"][k], heads["prompts"][k], 0.0))
    for name, budget in (("prompts", budgets.prompts), ("hard_prompts", budgets.hard_prompts)):
        langs = np.array([r.lang for r in pools[name]])
        for lang in sorted(set(langs.tolist())):
            m = langs == lang
            if m.sum() >= _MIN_POOL or lang != "mixed":
                checks[lang == "en"].append((base[name][m], heads[name][m], budget))
    # Social-media comments: the Chinese ones (COLD, SWSR, zh_social_text) together may not
    # lose accuracy (the head may flag no more benign comments than it adds offensive ones);
    # the English ones (Davidson, en_social_text) may have at most _SOCIAL_SLACK more benign
    # comments flagged, the English side being judged on benign text flagged.
    flags = any_flag(social.scores, th_in)
    accuracy: list[tuple[Array, Array, Array]] = []
    k = social.english_benign
    if k.sum() >= _MIN_POOL:
        checks[True].append((flags[k], social.head[k], rate(flags[k]) + _SOCIAL_SLACK))
    k = ~social.latin
    if k.any():
        accuracy.append((flags[k], social.head[k], social.positive[k]))
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
