"""The filing (备案) view of a keyword library: export and TC260-003 coverage.

Export: one row per (term, category) with the columns ``关键词`` / ``一级分类`` /
``二级分类``, where 一级分类 is the group (``A1 包含违反社会主义核心价值观的内容``) and
二级分类 the risk (``A1.04 宣扬恐怖主义、极端主义``), names from :mod:`gateway.taxonomy`.

Coverage: TC260-003 §8.1 asks for a keyword library of at least 10,000 terms in total, at
least 200 for each A1 risk and at least 100 for each A2 risk (the per-risk minimums are
``keyword_min`` in the taxonomy data). The report says which risks fall short and by how
much, so an operator knows which lists to import.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gateway import taxonomy
from gateway.lexicon.matcher import Term

FILING_HEADER = ("关键词", "一级分类", "二级分类")
TOTAL_MINIMUM = 10_000


def filing_rows(terms: Iterable[Term]) -> list[tuple[str, str, str]]:
    """Rows in the filing format, one per distinct (term, category), in input order."""
    cats = taxonomy.categories()
    rows: dict[tuple[str, str], tuple[str, str, str]] = {}
    for term in terms:
        cat = cats[term.category]
        rows.setdefault(
            (term.text, term.category),
            (term.text, f"{cat.group} {cat.group_name_zh}", f"{cat.code} {cat.name_zh}"),
        )
    return list(rows.values())


def export(terms: Iterable[Term], out: str | Path) -> int:
    """Write the filing export as ``.xlsx`` or ``.csv`` (by extension); returns row count.

    The CSV is UTF-8 with a BOM, which is what makes Excel open Chinese text correctly.
    """
    out = Path(out)
    rows = filing_rows(terms)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        with out.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(FILING_HEADER)
            writer.writerows(rows)
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("关键词库")
        ws.append(list(FILING_HEADER))
        for row in rows:
            ws.append(list(row))
        wb.save(out)
    else:
        raise ValueError(f"{out}: export needs a .xlsx or .csv file name")
    return len(rows)


@dataclass(frozen=True, slots=True)
class CategoryCoverage:
    code: str
    name: str
    count: int
    minimum: int | None

    @property
    def ok(self) -> bool:
        return self.minimum is None or self.count >= self.minimum

    @property
    def missing(self) -> int:
        return 0 if self.minimum is None else max(0, self.minimum - self.count)


@dataclass(frozen=True, slots=True)
class Coverage:
    total: int
    categories: tuple[CategoryCoverage, ...]

    @property
    def ok(self) -> bool:
        return self.total >= TOTAL_MINIMUM and all(c.ok for c in self.categories)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict: totals, each category, and the short list of what is missing."""
        return {
            "standard": "TC260-003 §8.1",
            "total": self.total,
            "total_minimum": TOTAL_MINIMUM,
            "ok": self.ok,
            "categories": [
                {
                    "code": c.code,
                    "name": c.name,
                    "count": c.count,
                    "minimum": c.minimum,
                    "ok": c.ok,
                    "missing": c.missing,
                }
                for c in self.categories
            ],
            "short": [c.code for c in self.categories if not c.ok],
        }

    def table(self) -> str:
        """A fixed-width table for a terminal, one row per category, then the total."""
        lines = [f"{'code':<6} {'count':>7} {'minimum':>7}  {'status':<12} name"]
        for c in self.categories:
            status = "ok" if c.ok else f"short {c.missing}"
            minimum = "-" if c.minimum is None else str(c.minimum)
            lines.append(f"{c.code:<6} {c.count:>7} {minimum:>7}  {status:<12} {c.name}")
        total_status = (
            "ok" if self.total >= TOTAL_MINIMUM else f"short {TOTAL_MINIMUM - self.total}"
        )
        lines.append(f"{'total':<6} {self.total:>7} {TOTAL_MINIMUM:>7}  {total_status:<12}")
        lines.append(
            "meets TC260-003 §8.1 minimums" if self.ok else "does NOT meet TC260-003 §8.1 minimums"
        )
        return "\n".join(lines)


def coverage(terms: Iterable[Term]) -> Coverage:
    """Distinct terms per category against the §8.1 minimums, all categories listed."""
    per_cat: dict[str, set[str]] = {code: set() for code in taxonomy.codes()}
    distinct: set[str] = set()
    for term in terms:
        per_cat.setdefault(term.category, set()).add(term.text)
        distinct.add(term.text)
    cats = taxonomy.categories()
    return Coverage(
        total=len(distinct),
        categories=tuple(
            CategoryCoverage(code, cats[code].name_zh, len(per_cat[code]), cats[code].keyword_min)
            for code in taxonomy.codes()
        ),
    )
