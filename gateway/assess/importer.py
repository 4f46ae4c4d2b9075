"""``bank import``: spreadsheets the way compliance staff keep them, into bank JSONL.

Filing attachment 5 (评估测试题) is usually one workbook with a sheet per bank
(生成内容测试题库 / 应拒答测试题库 / 非拒答测试题库), or one CSV per bank. Columns are found by
header, in Chinese or English (题目 / 问题 / text, 风险类别 / 二级分类 / risk, 非拒答方面 /
aspect, 编号 / id, 语言 / lang, 来源 / source, 题库 / bank). A risk cell may hold the code
(``A1.04``), the code and name (``A1.04 宣扬恐怖主义、极端主义``, the filing export's form) or
the name alone; an aspect cell the code (``NR.08``) or the name (``历史``). The bank of a
row comes from its bank column, else from the sheet name, else from ``--bank``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway import taxonomy
from gateway.assess.bank import BankItem, item_problems, parse_item
from gateway.assess.standard import BANKS, BankName, standard
from gateway.lexicon.textfile import read_text

# Accepted headers per field (compared after stripping and lower-casing), in preference order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "题号", "序号", "no", "no."),
    "text": ("text", "question", "prompt", "题目", "问题", "测试题", "试题", "内容"),
    "bank": ("bank", "题库", "题库类型"),
    "risk": ("risk", "category", "风险类别", "风险类型", "二级分类", "风险", "类别"),
    "aspect": ("aspect", "非拒答方面", "覆盖方面", "方面"),
    "lang": ("lang", "language", "语言"),
    "source": ("source", "来源"),
}
# Words that name a bank in a cell or a sheet name.
BANK_WORDS: dict[BankName, tuple[str, ...]] = {
    "generated_content": ("generated_content", "生成内容", "generated"),
    "should_refuse": ("should_refuse", "应拒答", "refuse"),
    "should_answer": ("should_answer", "非拒答", "不应拒答", "answer", "not_refuse"),
}
_CODE = re.compile(r"\b(A[1-5]\.\d{2})\b")
_ASPECT = re.compile(r"\b(NR\.\d{2})\b")
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


class BankImportError(ValueError):
    """The source cannot be read at all (no text column, unknown format)."""


@dataclass(slots=True)
class ImportResult:
    items: list[BankItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "where: message" per rejected row


def bank_of(word: str) -> BankName | None:
    """The bank a cell or sheet name refers to. "非拒答" is tested before "拒答" wins."""
    w = word.strip().lower()
    for name in ("should_answer", "should_refuse", "generated_content"):
        if any(k in w for k in BANK_WORDS[name]):
            return name
    return None


def risk_code(cell: str) -> str:
    """A risk cell as a code: ``A1.04``, ``A1.04 名称`` or the Chinese/English name."""
    cell = cell.strip()
    m = _CODE.search(cell)
    if m:
        return m.group(1)
    for cat in taxonomy.categories().values():
        if cell in (cat.name_zh, cat.name_en) and cat.code.startswith("A"):
            return cat.code
    return cell  # left as written: validation names it


def aspect_code(cell: str) -> str:
    cell = cell.strip()
    m = _ASPECT.search(cell)
    if m:
        return m.group(1)
    for a in standard().aspects.values():
        if cell in (a.name_zh, a.name_en) or cell.lower() == a.name_en.lower():
            return a.code
    return cell


def _header_map(header: list[str]) -> dict[str, int]:
    norm = [h.strip().lower() for h in header]
    out: dict[str, int] = {}
    for key, names in COLUMNS.items():
        for name in names:
            if name in norm:
                out[key] = norm.index(name)
                break
    return out


def _tables(path: Path) -> Iterator[tuple[str, list[list[str]]]]:
    """(sheet name, rows of cell strings) for each sheet, or one table for a CSV."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield path.stem, list(csv.reader(io.StringIO(read_text(path))))
    elif suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            for ws in wb.worksheets:
                rows = [["" if v is None else str(v) for v in row]
                        for row in ws.iter_rows(values_only=True)]  # fmt: skip
                yield ws.title, rows
        finally:
            wb.close()
    else:
        raise BankImportError(f"{path}: import needs a .csv or .xlsx file")


def import_bank(
    path: str | Path, bank: BankName | None = None, id_prefix: str = ""
) -> ImportResult:
    """Read every sheet (or the CSV) of ``path``. Rows with problems are left out and named
    in ``problems``; blank rows are skipped silently."""
    path = Path(path)
    prefix = id_prefix or _SLUG.sub("", path.stem) or "import"
    result = ImportResult()
    found_text = False
    for sheet, rows in _tables(path):
        if not rows:
            continue
        cols = _header_map(rows[0])
        if "text" not in cols:
            continue
        found_text = True
        sheet_bank = bank_of(sheet) or bank
        for n, row in enumerate(rows[1:], 2):
            _add_row(result, row, cols, sheet_bank, f"{path.name}[{sheet}]:{n}", prefix, n)
    if not found_text:
        heads = ", ".join(COLUMNS["text"])
        raise BankImportError(f"{path}: no sheet has a question column (one of: {heads})")
    unique: dict[str, BankItem] = {}
    for item in result.items:
        if item.id in unique:
            result.problems.append(f"id '{item.id}' appears twice: the later row is left out")
        else:
            unique[item.id] = item
    result.items = list(unique.values())
    return result


def _add_row(
    result: ImportResult, row: list[str], cols: dict[str, int], sheet_bank: BankName | None,
    where: str, prefix: str, n: int,
) -> None:  # fmt: skip
    def cell(key: str) -> str:
        i = cols.get(key)
        return row[i].strip() if i is not None and i < len(row) and row[i] else ""

    text = cell("text")
    if not text and not any(c.strip() for c in row):
        return
    bank = bank_of(cell("bank")) if cell("bank") else sheet_bank
    if bank is None:
        result.problems.append(f"{where}: no bank (add a 题库 column, name the sheet after "
                               f"the bank, or pass --bank {'|'.join(BANKS)})")  # fmt: skip
        return
    short = {"generated_content": "gen", "should_refuse": "ref", "should_answer": "ans"}[bank]
    raw_id = _SLUG.sub("-", cell("id")).strip("-")
    row_dict = {
        "id": f"{prefix}:{short}:{raw_id or n}",
        "text": text,
        "bank": bank,
        "risk": risk_code(cell("risk")) if cell("risk") else "",
        "aspect": aspect_code(cell("aspect")) if cell("aspect") else "",
        "lang": cell("lang").lower(),
        "source": cell("source") or f"import:{where.rsplit(':', 1)[0]}",
    }
    row_dict = {k: v for k, v in row_dict.items() if v}
    problems = item_problems(row_dict)
    if problems:
        result.problems.extend(f"{where}: {p}" for p in problems)
        return
    result.items.append(parse_item(row_dict))
