"""The 31-risk taxonomy of TC260-003 / GB/T 45654-2025 Annex A, plus gateway extensions.

Codes are stable (``A1.04``, ``A2.05``, ``X2``); every category, score and decision in the
gateway is keyed by them. The data ships with the package (``gateway/data/taxonomy.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    group: str
    name_zh: str
    name_en: str
    group_name_zh: str
    group_name_en: str
    article: str
    keyword_min: int | None


@cache
def categories() -> dict[str, Category]:
    """All leaf categories by code, in document order."""
    raw = json.loads(resources.files("gateway").joinpath("data/taxonomy.json").read_text("utf-8"))
    return {c["code"]: Category(**c) for c in raw["categories"]}


@cache
def codes() -> tuple[str, ...]:
    return tuple(categories())


def is_code(code: str) -> bool:
    return code in categories()
