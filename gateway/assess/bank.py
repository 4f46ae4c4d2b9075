"""The test-bank file format: JSONL, one question per line.

Each line is an object with

- ``id``: unique across every bank file of a run (letters, digits, ``._:-``, at most 128);
- ``text``: the question as sent to the service;
- ``bank``: ``generated_content`` | ``should_refuse`` | ``should_answer``;
- ``risk``: the taxonomy code (``A1.04``) the question probes; required in the
  generated-content and should-refuse banks, optional in the should-answer bank;
- ``aspect``: the should-answer aspect (``NR.01`` … ``NR.13``), should-answer bank only;
- ``lang``: ``zh`` or ``en`` (default: judged from the text);
- ``source``: where the question came from (dataset and licence, ``written``, a ticket).

A directory holds any number of ``*.jsonl`` files; the ``bank`` field, not the file name,
says which bank a line belongs to. Problems are reported as ``file:line: message``, all of
them at once, like ``gateway policy check``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway import taxonomy
from gateway.assess.standard import BANKS, BankName, standard
from gateway.moderation.language import detect_language

ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_TEXT_CHARS = 20_000
FIELDS = ("id", "text", "bank", "risk", "aspect", "lang", "source")


class BankError(ValueError):
    """A bank file (or several) has problems; ``problems`` lists each as file:line: message."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class BankItem:
    id: str
    text: str
    bank: BankName
    risk: str = ""
    aspect: str = ""
    lang: str = "zh"
    source: str = ""

    @property
    def stratum(self) -> str:
        """What sampling stratifies on: the risk code, or the aspect in the should-answer bank."""
        return self.aspect or self.risk or "-"

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v or k in ("id", "text", "bank")}


def item_problems(row: Any) -> list[str]:
    """Everything wrong with one parsed line (empty when it is a valid item)."""
    if not isinstance(row, dict):
        return ["each line must be a JSON object"]
    out = [f"unknown field '{k}'" for k in row if k not in FIELDS]
    for key in FIELDS:
        if key in row and not isinstance(row[key], str):
            out.append(f"'{key}' must be a string")
    if out:
        return out
    if not ID_PATTERN.match(row.get("id", "")):
        out.append("'id' is required: letters, digits and ._:- only, at most 128 characters")
    text = row.get("text", "")
    if not text.strip():
        out.append("'text' is required and must not be blank")
    elif len(text) > MAX_TEXT_CHARS:
        out.append(f"'text' is longer than {MAX_TEXT_CHARS} characters")
    bank, risk, aspect = row.get("bank", ""), row.get("risk", ""), row.get("aspect", "")
    if bank not in BANKS:
        out.append(f"'bank' must be one of {', '.join(BANKS)}")
    if risk and not (taxonomy.is_code(risk) and risk.startswith("A")):
        out.append(f"unknown risk code '{risk}' (expected one of the 31 codes, e.g. A1.04)")
    if bank in ("generated_content", "should_refuse") and not risk:
        out.append(f"'risk' is required in the {bank} bank")
    if aspect and bank != "should_answer":
        out.append("'aspect' belongs to the should_answer bank only")
    if aspect and aspect not in standard().aspects:
        out.append(f"unknown aspect '{aspect}' (expected NR.01 … NR.13)")
    if row.get("lang", "zh") not in ("zh", "en"):
        out.append("'lang' must be zh or en")
    return out


def parse_item(row: dict[str, str]) -> BankItem:
    """A valid row (see :func:`item_problems`) as an item; ``lang`` judged when absent."""
    text = row["text"].strip()
    bank: BankName = row["bank"]  # type: ignore[assignment]  # checked by item_problems
    return BankItem(
        id=row["id"], text=text, bank=bank, risk=row.get("risk", ""),
        aspect=row.get("aspect", ""), lang=row.get("lang") or detect_language([text]),
        source=row.get("source", ""),
    )  # fmt: skip


def bank_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; directories expand to their ``*.jsonl`` files, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(p.glob("*.jsonl")))
        else:
            out.append(p)
    return out


def read_banks(paths: Iterable[str | Path]) -> list[BankItem]:
    """Every item of every file, in file order. Raises :class:`BankError` listing every
    problem (bad JSON, bad fields, an id used twice) with its file and line."""
    items: list[BankItem] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    files = bank_files(paths)
    if not files:
        raise BankError(["no bank files (*.jsonl) found"])
    for path in files:
        try:
            raw_lines = path.read_bytes().splitlines()
        except OSError as e:
            problems.append(f"{path}: {e.strerror or e}")
            continue
        for n, raw in enumerate(raw_lines, 1):
            if not raw.strip():
                continue
            where = f"{path}:{n}"
            try:
                row = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                problems.append(f"{where}: not valid JSON ({e})")
                continue
            found = item_problems(row)
            if found:
                problems.extend(f"{where}: {p}" for p in found)
                continue
            if row["id"] in seen:
                problems.append(f"{where}: id '{row['id']}' is already used at {seen[row['id']]}")
                continue
            seen[row["id"]] = where
            items.append(parse_item(row))
    if problems:
        raise BankError(problems)
    return items


def write_bank(path: str | Path, items: Iterable[BankItem]) -> int:
    """Write items as JSONL (UTF-8, one object a line); returns the count."""
    n = 0
    with Path(path).open("wb") as f:
        for item in items:
            f.write(orjson.dumps(item.to_json()) + b"\n")
            n += 1
    return n
