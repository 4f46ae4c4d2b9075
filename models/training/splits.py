"""Deduplication across datasets and a leakage-free train/val/test split.

A row's split is a hash of its group and the seed, so every member of a group (a JailBench
seed and its wrappings, a JADE question and its v3 answers, a MultiJail zh/en pair, a KdConv
dialogue) lands in the same split. A row may arrive pinned to a split (the held-out benign
bank is pinned to ``test``): its whole group follows it, and any training row that
duplicates a held-out text is dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from models.training.example import Example, Split, dedup_key


def dedup(rows: Iterable[Example]) -> list[Example]:
    """One row per (direction, text key); a text labeled unsafe anywhere keeps the union of
    its codes (positives win over negatives, since a harmful text stays harmful)."""
    kept: dict[tuple[str, str], Example] = {}
    for row in rows:
        key = (row.direction, dedup_key(row.text))
        if not key[1]:
            continue
        first = kept.get(key)
        if first is None:
            kept[key] = row
            continue
        first.codes = first.codes | row.codes
        if row.split is not None:
            first.split = row.split  # held-out membership wins, so nothing leaks into train
    return list(kept.values())


def _bucket(group: str, seed: int) -> Split:
    h = int.from_bytes(hashlib.sha1(f"{seed}:{group}".encode()).digest()[:4], "big") % 100
    return "test" if h < 10 else "val" if h < 20 else "train"


def assign_splits(rows: list[Example], seed: int) -> list[Example]:
    """Set ``split`` on every row without one; a group with a pinned row goes there whole."""
    pinned: dict[str, Split] = {r.group: r.split for r in rows if r.split is not None}
    for row in rows:
        if row.split is None:
            row.split = pinned.get(row.group) or _bucket(row.group, seed)
    return rows


def check_no_leak(rows: list[Example]) -> None:
    """Raise if a text key appears in train and in any held-out split."""
    train = {dedup_key(r.text) for r in rows if r.split == "train"}
    leaked = [r.text for r in rows if r.split != "train" and dedup_key(r.text) in train]
    if leaked:
        raise ValueError(f"{len(leaked)} held-out texts also in train, e.g. {leaked[0][:40]!r}")


def build(rows: Iterable[Example], seed: int) -> list[Example]:
    """Deduplicate, split, and verify; returns rows with ``split`` set."""
    out = assign_splits(dedup(rows), seed)
    # The same text in both directions (rare: a comment quoted as an answer) must not straddle
    # splits; keep the held-out copy.
    held = {dedup_key(r.text) for r in out if r.split != "train"}
    out = [r for r in out if r.split != "train" or dedup_key(r.text) not in held]
    check_no_leak(out)
    return out
