"""``bank check``: a set of banks against the TC260-003 §8.2–8.3 minimums.

For each bank: the total against its recommended size, each required code (risk or
aspect) with its count and recommended minimum, the codes with no question at all (the
"shall" coverage fails), the codes that are the operator's to fill, questions that appear
twice (after folding case, width and punctuation), and questions that sit in two banks
that contradict each other (should-refuse and should-answer).
"""

from __future__ import annotations

import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.assess.bank import BankItem
from gateway.assess.standard import BANKS, BankName, standard

STALE_DAYS = 31  # §8.2 and §8.3: update at least monthly (宜)
MAX_LISTED = 50  # duplicates listed by id; all are counted


def fold(text: str) -> str:
    """The form two questions must share to count as the same question."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


@dataclass(frozen=True, slots=True)
class CodeCount:
    code: str
    count: int
    minimum: int
    operator: bool  # the operator supplies these questions (political codes)

    @property
    def ok(self) -> bool:
        return self.count >= self.minimum

    @property
    def missing(self) -> int:
        return max(0, self.minimum - self.count)


@dataclass(frozen=True, slots=True)
class BankCoverage:
    bank: BankName
    total: int
    total_min: int
    codes: tuple[CodeCount, ...]
    other: dict[str, int]  # questions under codes the bank does not require (or none)
    duplicates: tuple[tuple[str, str], ...]  # (id, id of the first copy), at most MAX_LISTED
    duplicate_count: int

    @property
    def absent(self) -> list[str]:
        """Required codes with no question: the "shall" coverage is not met."""
        return [c.code for c in self.codes if c.count == 0]

    @property
    def short(self) -> list[str]:
        return [c.code for c in self.codes if not c.ok]

    @property
    def covered(self) -> bool:
        return not self.absent

    @property
    def meets_minimums(self) -> bool:
        return self.total >= self.total_min and not self.short


@dataclass(frozen=True, slots=True)
class Coverage:
    banks: tuple[BankCoverage, ...]
    conflicts: tuple[tuple[str, str], ...]  # (should_refuse id, should_answer id)
    updated: float | None = None  # newest modification time of the bank files
    files: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Every "shall" holds: each bank covers its codes, no contradiction between banks."""
        return all(b.covered for b in self.banks) and not self.conflicts

    @property
    def stale(self) -> bool:
        return self.updated is not None and time.time() - self.updated > STALE_DAYS * 86400

    def bank(self, name: BankName) -> BankCoverage:
        return next(b for b in self.banks if b.bank == name)

    def to_json(self) -> dict[str, object]:
        return {
            "standard": "TC260-003 §8.2, §8.3",
            "ok": self.ok,
            "meets_recommended_minimums": all(b.meets_minimums for b in self.banks),
            "files": list(self.files),
            "updated": self.updated,
            "stale": self.stale,
            "operator_codes": sorted(standard().operator_codes),
            "conflicts": [list(c) for c in self.conflicts],
            "banks": [_bank_json(b) for b in self.banks],
        }

    def table(self, lang: str = "zh") -> str:
        """Lines for a terminal: one block per bank, then the verdict."""
        std = standard()
        en = lang == "en"
        lines: list[str] = []
        for b in self.banks:
            rule = std.banks[b.bank]
            status = "ok" if b.total >= b.total_min else f"short {b.total_min - b.total}"
            lines.append(f"{rule.clause} {b.bank} ({rule.title(lang)}): {b.total} questions, "
                         f"recommended {b.total_min}: {status}")  # fmt: skip
            for c in b.codes:
                mark = "ok" if c.ok else f"short {c.missing}"
                note = (
                    ("  (operator's to fill)" if en else "  (由运营方补充)") if c.operator else ""
                )
                name = std.code_name(c.code, lang)
                lines.append(f"  {c.code:<6} {c.count:>6} {c.minimum:>5}  {mark:<10} {name}{note}")
            for code, n in sorted(b.other.items()):
                lines.append(f"  {code:<6} {n:>6}     -  other")
            if b.absent:
                lines.append(f"  MISSING (no question at all): {', '.join(b.absent)}")
            if b.duplicate_count:
                pairs = ", ".join(f"{a}={f}" for a, f in b.duplicates[:10])
                lines.append(f"  duplicates: {b.duplicate_count} ({pairs})")
        if self.conflicts:
            pairs = ", ".join(f"{a}/{b}" for a, b in self.conflicts[:10])
            lines.append(
                f"in both should_refuse and should_answer: {len(self.conflicts)} ({pairs})"
            )
        if self.stale:
            lines.append(f"the newest bank file is older than {STALE_DAYS} days (update monthly)")
        operator = sorted(std.operator_codes)
        lines.append(
            f"political codes {', '.join(operator)} are the operator's to fill: the starter "
            "banks hold no questions for them"
            if en
            else f"政治类风险 {', '.join(operator)} 的题目由运营方自行补充，起步题库不含这些题目"
        )
        verdict = "covers every required risk and aspect" if self.ok else "does NOT cover"
        minimums = all(b.meets_minimums for b in self.banks)
        lines.append(f"{verdict}; recommended sizes {'met' if minimums else 'NOT met'}")
        return "\n".join(lines)


def _bank_json(b: BankCoverage) -> dict[str, object]:
    return {
        "bank": b.bank,
        "total": b.total,
        "total_min": b.total_min,
        "covered": b.covered,
        "meets_minimums": b.meets_minimums,
        "absent": b.absent,
        "short": b.short,
        "codes": [
            {
                "code": c.code,
                "count": c.count,
                "minimum": c.minimum,
                "ok": c.ok,
                "missing": c.missing,
                "operator": c.operator,
            }
            for c in b.codes
        ],
        "other": b.other,
        "duplicate_count": b.duplicate_count,
        "duplicates": [list(d) for d in b.duplicates],
    }


def _one_bank(name: BankName, items: Sequence[BankItem]) -> BankCoverage:
    std = standard()
    rule = std.banks[name]
    counts = Counter(i.aspect if name == "should_answer" else i.risk for i in items)
    codes = tuple(
        CodeCount(code, counts.get(code, 0), rule.per_code_min.get(code, 1),
                  code in std.operator_codes)
        for code in rule.required
    )  # fmt: skip
    other = {(c or "-"): n for c, n in counts.items() if c not in rule.required}
    first: dict[str, str] = {}
    dups: list[tuple[str, str]] = []
    count = 0
    for item in items:
        key = fold(item.text)
        if key in first:
            count += 1
            if len(dups) < MAX_LISTED:
                dups.append((item.id, first[key]))
        else:
            first[key] = item.id
    return BankCoverage(name, len(items), rule.total_min, codes, other, tuple(dups), count)


def check(items: Sequence[BankItem], files: Sequence[Path] = ()) -> Coverage:
    """Coverage of ``items`` (all banks together) against the standard."""
    by_bank: dict[BankName, list[BankItem]] = {name: [] for name in BANKS}
    for item in items:
        by_bank[item.bank].append(item)
    refuse: dict[str, str] = {}
    for i in by_bank["should_refuse"]:
        refuse.setdefault(fold(i.text), i.id)
    conflicts = tuple(
        (refuse[fold(i.text)], i.id) for i in by_bank["should_answer"] if fold(i.text) in refuse
    )
    times = [p.stat().st_mtime for p in files if p.exists()]
    return Coverage(
        banks=tuple(_one_bank(name, by_bank[name]) for name in BANKS),
        conflicts=conflicts[:MAX_LISTED],
        updated=max(times) if times else None,
        files=tuple(str(p) for p in files),
    )
