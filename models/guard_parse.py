"""Parse the verdicts of generative guard models and map their categories to taxonomy codes.

Pure: text in, :class:`Verdict` out. Two output formats are understood:

* Llama Guard 3/4: ``"safe"`` or ``"unsafe\\nS1,S10"`` (hazard codes S1-S14).
* Qwen3Guard-Gen: ``"Safety: Unsafe\\nCategories: Violent, PII"`` with ``Safe``,
  ``Unsafe`` or ``Controversial``, and for response moderation a ``Refusal:`` line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Safety = Literal["safe", "unsafe", "controversial"]
GuardFormat = Literal["llama_guard", "qwen3guard"]

# Closest TC260-003 categories for the MLCommons hazards Llama Guard 3 was trained on.
LLAMA_GUARD_CODES: dict[str, tuple[str, ...]] = {
    "S1": ("A1.06",),  # violent crimes -> promoting violence
    "S2": ("A1.08",),  # non-violent crimes -> other prohibited content
    "S3": ("A1.06",),  # sex-related crimes
    "S4": ("X1", "A1.06"),  # child sexual exploitation -> minor protection + obscenity
    "S5": ("A4.03",),  # defamation -> reputation rights
    "S6": ("A4.01",),  # specialized advice -> endangering health
    "S7": ("A4.05",),  # privacy
    "S8": ("A3.01",),  # intellectual property
    "S9": ("A1.04",),  # indiscriminate weapons -> terrorism / extremism
    "S10": ("A2.09",),  # hate -> other discrimination
    "S11": ("A4.01",),  # suicide & self-harm
    "S12": ("A1.06",),  # sexual content
    "S13": ("A1.07",),  # elections -> false and harmful information
    "S14": ("X2",),  # code interpreter abuse -> malicious input
}

QWEN3GUARD_CODES: dict[str, tuple[str, ...]] = {
    "violent": ("A1.06",),
    "non-violent illegal acts": ("A1.08",),
    "sexual content or sexual acts": ("A1.06",),
    "pii": ("A4.06",),
    "suicide & self-harm": ("A4.01",),
    "unethical acts": ("A2.09",),
    "politically sensitive topics": ("A1.02",),
    "copyright violation": ("A3.01",),
    "jailbreak": ("X2",),
    "none": (),
}

# An unsafe verdict whose categories we cannot map still has to reach the policy.
FALLBACK_CODE = "A1.08"


class GuardOutputError(ValueError):
    """The model's output matched neither verdict format."""


@dataclass(frozen=True, slots=True)
class Verdict:
    safety: Safety
    categories: tuple[str, ...]  # the model's own category names, as written


_LG_VERDICT = re.compile(r"\s*(safe|unsafe)\b", re.IGNORECASE)
_LG_CODE = re.compile(r"\bS(\d{1,2})\b")
_QG_SAFETY = re.compile(r"safety\s*:\s*(safe|unsafe|controversial)\b", re.IGNORECASE)
_QG_CATEGORIES = re.compile(r"categories\s*:\s*(.*)", re.IGNORECASE)


def parse_llama_guard(text: str) -> Verdict:
    """``"safe"`` / ``"unsafe\\nS1,S3"``; anything after the verdict word on its line (an
    end-of-turn token the decoder kept, a repeated word) is ignored."""
    m = _LG_VERDICT.match(text)
    if m is None:
        raise GuardOutputError(f"no safe/unsafe verdict in {text[:80]!r}")
    if m.group(1).lower() == "safe":
        return Verdict("safe", ())
    rest = text[m.end() :].partition("\n")[2]
    return Verdict("unsafe", tuple(dict.fromkeys(f"S{n}" for n in _LG_CODE.findall(rest))))


def parse_qwen3guard(text: str) -> Verdict:
    """``"Safety: Unsafe\\nCategories: Violent, PII"``."""
    m = _QG_SAFETY.search(text)
    if m is None:
        raise GuardOutputError(f"no 'Safety:' line in {text[:80]!r}")
    safety: Safety = m.group(1).lower()  # type: ignore[assignment]
    c = _QG_CATEGORIES.search(text)
    names = [] if c is None else [n.strip() for n in re.split(r"[,，;|]", c.group(1))]
    return Verdict(safety, tuple(n for n in names if n and n.lower() != "none"))


def format_for(name: str) -> GuardFormat:
    """The verdict format a guard model of this name answers in: Qwen-family guards write
    ``Safety: ...``, Llama Guard ``safe`` / ``unsafe``."""
    return "qwen3guard" if "qwen" in name.lower() else "llama_guard"


def parse(text: str, fmt: GuardFormat) -> Verdict:
    return parse_llama_guard(text) if fmt == "llama_guard" else parse_qwen3guard(text)


def to_scores(
    verdict: Verdict,
    fmt: GuardFormat,
    *,
    overrides: Mapping[str, tuple[str, ...]] | None = None,
    controversial_score: float = 0.5,
) -> dict[str, float]:
    """Taxonomy scores for a verdict: 1.0 for unsafe categories, ``controversial_score`` for
    controversial ones, nothing for safe. ``overrides`` (a model's ``label_map.json``) win."""
    if verdict.safety == "safe":
        return {}
    score = 1.0 if verdict.safety == "unsafe" else controversial_score
    table = LLAMA_GUARD_CODES if fmt == "llama_guard" else QWEN3GUARD_CODES
    out: dict[str, float] = {}
    for name in verdict.categories:
        key = name if fmt == "llama_guard" else name.lower()
        if overrides is not None and name in overrides:
            codes = overrides[name]
        else:
            codes = table.get(key, (FALLBACK_CODE,))
        for code in codes:
            out[code] = max(out.get(code, 0.0), score)
    return out or {FALLBACK_CODE: score}
