"""The streaming test's bank of benign answers (``tests/fixtures/benign_stream_answers.jsonl``)
is held out from everything the recipe learns from: no training or validation text may
match one of its answers, exactly or after the gateway's normalization. The recipe checks
this before it trains, and scores the bank only as a final held-out report."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from gateway.lexicon.normalize import normalize
from models.training.example import dedup_key

T = TypeVar("T")

STREAM_BANK = (
    Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "benign_stream_answers.jsonl"
)


def load_bank(path: Path = STREAM_BANK) -> list[str]:
    """The bank's answer texts (empty when the file is absent, e.g. an installed package)."""
    if not path.is_file():
        return []
    lines = path.read_text("utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def _forms(text: str) -> tuple[str, str, str]:
    return text.strip(), normalize(text).text.strip(), dedup_key(text)


class StreamBankOverlap(ValueError):
    """A training or validation text matches an answer of the held-out stream bank."""


def _bank_keys(bank: list[str]) -> list[set[str]]:
    keys = [set[str]() for _ in range(3)]
    for answer in bank:
        for seen, form in zip(keys, _forms(answer), strict=True):
            if form:
                seen.add(form)
    return keys


def _matches(text: str, keys: list[set[str]]) -> bool:
    return any(f and f in seen for f, seen in zip(_forms(text), keys, strict=True))


def check_no_overlap(texts: Iterable[str], bank: list[str]) -> None:
    """Raise ``StreamBankOverlap`` when any of ``texts`` equals a bank answer as written,
    after ``normalize`` or as a dedup key (punctuation, spaces and case ignored)."""
    keys = _bank_keys(bank)
    hits = [t for t in texts if _matches(t, keys)]
    if hits:
        raise StreamBankOverlap(
            f"{len(hits)} training/validation texts match the held-out stream bank "
            f"(tests/fixtures/benign_stream_answers.jsonl), e.g. {hits[0][:60]!r}; remove them"
        )


def without_overlap(texts: Sequence[T], bank: list[str], text: Callable[[T], str]) -> list[T]:
    """``texts`` less those matching a bank answer (as ``check_no_overlap`` compares). For
    text the recipe derives itself (a short prefix of "Sure thing!" is "Sure"), which the
    data files cannot be edited to avoid."""
    keys = _bank_keys(bank)
    return [t for t in texts if not _matches(text(t), keys)]
