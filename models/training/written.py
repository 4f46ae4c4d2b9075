"""The project's own data files (``models/training/data/*.jsonl``): one loader for all of them.

Each file is one source (its stem is the source name in every report), written for this
project and licensed with it; ``data/README.md`` documents the format. Rows are split
train / val / test by the same group hash as the shared datasets (the text, or the row's
``group`` when it names one), except rows that carry ``"split": "test"`` (the held-out benign
bank), which stay in test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.taxonomy import is_code
from models.training.example import Example, dedup_key

DATA_DIR = Path(__file__).resolve().parent / "data"

_DIRECTIONS = ("in", "out")
_LANGS = ("zh", "en", "mixed")
_SPLITS = ("test",)


class DataFileError(ValueError):
    """A row of a data file breaks the documented format (file and line in the message)."""


def _check(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise DataFileError(f"{where}: a row must be a JSON object")
    text, codes, label = row.get("text"), row.get("codes"), row.get("label")
    if not isinstance(text, str) or not text.strip():
        raise DataFileError(f"{where}: 'text' must be a non-empty string")
    if row.get("direction") not in _DIRECTIONS:
        raise DataFileError(f"{where}: 'direction' must be one of {_DIRECTIONS}")
    if row.get("lang") not in _LANGS:
        raise DataFileError(f"{where}: 'lang' must be one of {_LANGS}")
    if label not in (0, 1) or not isinstance(codes, list):
        raise DataFileError(f"{where}: 'label' must be 0 or 1 and 'codes' a list")
    if bool(label) != bool(codes) or not all(isinstance(c, str) and is_code(c) for c in codes):
        raise DataFileError(f"{where}: label 1 needs taxonomy codes, label 0 none ({codes})")
    if not isinstance(row.get("domain"), str) or not isinstance(row.get("hard_negative"), bool):
        raise DataFileError(f"{where}: 'domain' must be a string and 'hard_negative' a bool")
    if "split" in row and row["split"] not in _SPLITS:
        raise DataFileError(f"{where}: 'split' may only be {_SPLITS}")
    if "group" in row and not (isinstance(row["group"], str) and row["group"].strip()):
        raise DataFileError(f"{where}: 'group' must be a non-empty string")


def read_file(path: Path, limit: int | None = None) -> Iterator[Example]:
    """The rows of one data file as ``Example``s (source = file stem), checked as read."""
    source = path.stem
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if limit is not None and n > limit:
                return
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{where}: not JSON ({exc.msg})") from None
            _check(row, where)
            text = row["text"].strip()
            tags = {"domain:" + row["domain"]} | (
                {"hard_negative"} if row["hard_negative"] else set()
            )
            yield Example(
                text,
                row["direction"],
                frozenset(row["codes"]),
                source,
                # Rows naming one group (a harmful prompt and its benign counterpart on the
                # same topic) land in one split, so the test split holds unseen topics.
                f"{source}:group:{row['group']}"
                if "group" in row
                else f"{source}:{dedup_key(text)}",
                split=row.get("split"),
                tags=frozenset(tags),
                lang=row["lang"],
            )


def data_files(data_dir: Path = DATA_DIR) -> list[Path]:
    """Every data file, in a fixed order (the order matters for reproducibility)."""
    return sorted(data_dir.glob("*.jsonl"))


def written_sources(limit: int | None = None, data_dir: Path = DATA_DIR) -> list[Example]:
    """Every row of every data file (``limit`` rows per file for quick runs)."""
    return [ex for path in data_files(data_dir) for ex in read_file(path, limit)]


def heldout_bank(data_dir: Path = DATA_DIR) -> list[Example]:
    """The hand-written benign prompts kept out of training and calibration (``split: test``)."""
    return [ex for ex in written_sources(None, data_dir) if ex.split == "test"]
