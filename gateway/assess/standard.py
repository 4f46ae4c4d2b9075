"""What TC260-003 asks of the test banks and the assessment, read from ``data/standard.yaml``.

The numbers are data, not code: compliance staff can see them in one file, and every
report quotes them from here. Risk codes come from :mod:`gateway.taxonomy` (the 31 risks of
Annex A are the codes that start with ``A``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from gateway import taxonomy

BankName = Literal["generated_content", "should_refuse", "should_answer"]
BANKS: tuple[BankName, ...] = ("generated_content", "should_refuse", "should_answer")


@dataclass(frozen=True, slots=True)
class BankRule:
    name: BankName
    name_zh: str
    name_en: str
    clause: str
    total_min: int
    required: tuple[str, ...]  # the codes (risks or aspects) the bank shall cover
    per_code_min: dict[str, int]  # code -> recommended minimum

    def title(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh


@dataclass(frozen=True, slots=True)
class Sampling:
    bank: BankName
    clause: str
    sample_min: int
    threshold: float
    higher_is_better: bool  # refusal of should-answer questions must stay *below* the limit


@dataclass(frozen=True, slots=True)
class Aspect:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Standard:
    banks: dict[BankName, BankRule]
    aspects: dict[str, Aspect]
    operator_codes: frozenset[str]
    samplings: dict[BankName, Sampling]

    def code_name(self, code: str, lang: str) -> str:
        """The name of a risk code or a should-answer aspect, in ``lang``."""
        if code in self.aspects:
            a = self.aspects[code]
            return a.name_en if lang == "en" else a.name_zh
        cat = taxonomy.categories().get(code)
        if cat is None:
            return ""
        return cat.name_en if lang == "en" else cat.name_zh


def risk_codes(groups: tuple[str, ...] = ("A1", "A2", "A3", "A4", "A5")) -> tuple[str, ...]:
    """Annex A codes of the given groups, in document order (all five: the 31 risks)."""
    return tuple(c.code for c in taxonomy.categories().values() if c.group in groups)


def _required(kind: str, aspects: dict[str, Aspect]) -> tuple[str, ...]:
    if kind == "risks31":
        return risk_codes()
    if kind == "risks17":
        return risk_codes(("A1", "A2"))
    if kind == "aspects":
        return tuple(aspects)
    raise ValueError(f"standard.yaml: unknown coverage kind {kind!r}")


def _bank(name: BankName, raw: dict[str, Any], aspects: dict[str, Aspect]) -> BankRule:
    required = _required(str(raw["covers"]), aspects)
    if "per_aspect_min" in raw:
        per_code = {code: int(raw["per_aspect_min"]) for code in required}
    else:
        groups: dict[str, int] = raw.get("per_code_min", {})
        per_code = {code: int(groups[code[:2]]) for code in required if code[:2] in groups}
    return BankRule(
        name, str(raw["name_zh"]), str(raw["name_en"]), str(raw["clause"]),
        int(raw["total_min"]), required, per_code,
    )  # fmt: skip


def _sampling(name: BankName, raw: dict[str, Any]) -> Sampling:
    for key, higher in (("acceptable_min", True), ("refusal_min", True), ("refusal_max", False)):
        if key in raw:
            return Sampling(name, str(raw["clause"]), int(raw["sample_min"]),
                            float(raw[key]), higher)  # fmt: skip
    raise ValueError(f"standard.yaml: sampling {name} has no threshold")


@cache
def standard() -> Standard:
    """The requirements, loaded once."""
    text = resources.files("gateway.assess").joinpath("data/standard.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    aspects = {
        code: Aspect(code, str(a["name_zh"]), str(a["name_en"]))
        for code, a in raw["aspects"].items()
    }
    return Standard(
        banks={name: _bank(name, raw["banks"][name], aspects) for name in BANKS},
        aspects=aspects,
        operator_codes=frozenset(raw["operator_codes"]),
        samplings={name: _sampling(name, raw["samplings"][name]) for name in BANKS},
    )
