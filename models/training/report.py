"""The evaluation suite the model card quotes: test-split metrics per source, language and
direction, benign false-positive rates, out-of-domain XSafety,
robustness to evasions, and the held-out stream bank (thresholds come from
:mod:`models.training.calibration`).

Every function takes a ``Scorer``: model inputs (direction marker + normalized text, as
:func:`example.with_direction` builds them) -> sigmoid scores, shape (n, labels), a text's
score being the maximum over its windows as in the gateway. Nothing here trains or tunes on
the test split, XSafety or the stream bank; nothing here reads ``val``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gateway.moderation.language import han_count, has_han
from models.training import sources
from models.training.evaluate import Array, binary, flagged, per_code
from models.training.example import Example, with_direction
from models.training.perturb import Perturber

Scorer = Callable[[Sequence[str]], Array]

# Thresholds per direction: "in" for prompts, "out" for answers (the policy has both).
Thresholds = dict[str, Array]

# Social-media comments: their negatives are judged by accuracy, not counted as "benign
# prompts and answers" (a gateway's over-refusal is about what users and models write).
# The project's own social-media-style posts and comments (``*_social_text``) count with them.
SOCIAL_MEDIA = frozenset({"COLD", "SWSR", "Davidson", "zh_social_text", "en_social_text"})
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
PREFIX_MIN = 40  # stream.classifier_min_chars: Chinese characters before the first look
PREFIX_MIN_LATIN = 80  # stream.classifier_min_chars_latin: ... or characters of any kind
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


def first_look(text: str) -> int:
    """Where the training openings of an answer start: ``PREFIX_MIN`` characters, or
    ``PREFIX_MIN_LATIN`` while none of them is Chinese. The gateway now waits for 40 Chinese
    characters or 80 of any kind (``stream_windows`` has that exactly); the shipped weights
    were trained on these openings, which start earlier for answers with few Chinese
    characters (training augmentation only: more short openings, never fewer)."""
    return PREFIX_MIN if has_han(text[:PREFIX_MIN_LATIN]) else PREFIX_MIN_LATIN


def stream_windows(text: str) -> list[str]:
    """What the gateway may score of an answer while it streams: the answer so far from its
    first look (40 Chinese characters, or 80 characters of any kind) on, every
    ``STREAM_STEP`` (its last 256 characters once longer), before the full answer."""
    return _windows(text, lambda opening: han_count(opening) >= PREFIX_MIN)


def calibration_windows(text: str) -> list[str]:
    """The windows the output thresholds are calibrated on: every ``STREAM_STEP`` from 40
    characters once the answer holds a Chinese character (80 before), a superset of
    ``stream_windows``. Short mixed openings with few Chinese characters are no longer judged
    by the gateway, but calibrating on them keeps the output thresholds where they were: a
    benign anti-scam opening those windows held down is not the only kind the model scores
    high, and a gun-law answer written after the change scored A2.01 0.971 at a later window,
    which a threshold recalibrated without the short windows (0.975) would nearly cut."""
    return _windows(text, has_han)


def _windows(text: str, judged_early: Callable[[str], bool]) -> list[str]:
    """The answer so far every ``STREAM_STEP`` from ``PREFIX_MIN`` characters (its last
    ``STREAM_WINDOW`` once longer): from ``PREFIX_MIN_LATIN`` on always, before that where
    ``judged_early(answer so far)``."""
    return [
        text[max(0, end - STREAM_WINDOW) : end]
        for end in range(PREFIX_MIN, len(text), STREAM_STEP)
        if end >= PREFIX_MIN_LATIN or judged_early(text[:end])
    ]


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
    # Assistant answers proper: half the social-media comments are stored as answers (so
    # the model sees them both ways), and they would otherwise dominate the answer figures.
    is_answer = np.array(
        [r.direction == "out" and r.source not in SOCIAL_MEDIA for r in test], dtype=bool
    )
    answers = [r for r, keep in zip(test, is_answer, strict=True) if keep]
    return {
        "test_any_unsafe": binary(flags, pos),
        "test_any_unsafe_at_0.5": binary(any_flag(s, np.full(len(labels), 0.5)), pos),
        "test_per_code": per_code(s, t, th, labels),
        "test_by_source": _group_metrics(test, flags, lambda r: r.source),
        "test_by_lang": _group_metrics(test, flags, lambda r: str(r.lang)),
        "test_by_direction": _group_metrics(test, flags, lambda r: r.direction),
        "test_by_lang_direction": _group_metrics(test, flags, lambda r: f"{r.lang}/{r.direction}"),
        "test_answers_by_lang": _group_metrics(answers, flags[is_answer], lambda r: str(r.lang)),
        "test_benign_by_lang_direction": _group_metrics(
            benign, bflags, lambda r: f"{r.lang}/{r.direction}"
        ),
        "test_hard_negatives": _group_metrics(
            [r for r in benign if "hard_negative" in r.tags],
            bflags[np.array(["hard_negative" in r.tags for r in benign], dtype=bool)],
            lambda r: str(r.lang),
        ),
    }


def social_as_prompts(
    scorer: Scorer, rows: list[Example], thresholds: Thresholds
) -> dict[str, dict[str, float]]:
    """Test-split social-media comments per source, each scored as a prompt at the input
    thresholds: ``POST /v1/moderations`` scores any text that way, and a public offensive-
    language benchmark reaches the gateway through it."""
    test = [r for r in rows if r.split == "test" and r.source in SOCIAL_MEDIA]
    if not test:
        return {}
    flags = any_flag(scorer([with_direction(r.text, "in") for r in test]), thresholds["in"])
    return _group_metrics(test, flags, lambda r: r.source)


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
