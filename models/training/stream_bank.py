"""The streaming test's bank of benign answers (``tests/fixtures/benign_stream_answers.jsonl``)
is held out from everything the recipe learns from: no training or validation text may
match one of its answers, exactly or after the gateway's normalization. The recipe checks
this before it trains, and scores the bank only as a final held-out report."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from gateway.lexicon.normalize import normalize
from models.training.example import dedup_key

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


def check_no_overlap(texts: Iterable[str], bank: list[str]) -> None:
    """Raise ``StreamBankOverlap`` when any of ``texts`` equals a bank answer as written,
    after ``normalize`` or as a dedup key (punctuation, spaces and case ignored)."""
    keys = [set[str]() for _ in range(3)]
    for answer in bank:
        for seen, form in zip(keys, _forms(answer), strict=True):
            if form:
                seen.add(form)
    hits = [
        t for t in texts if any(f and f in seen for f, seen in zip(_forms(t), keys, strict=True))
    ]
    if hits:
        raise StreamBankOverlap(
            f"{len(hits)} training/validation texts match the held-out stream bank "
            f"(tests/fixtures/benign_stream_answers.jsonl), e.g. {hits[0][:60]!r}; remove them"
        )
