"""Seeded sampling stratified by risk code (or by aspect in the should-answer bank).

Allocation: every non-empty stratum first gets one question (when the sample is at least as
large as the number of strata), then the rest is shared in proportion to what each stratum
has left, by largest remainder (ties broken by code, so the result does not depend on dict
order). Within a stratum the questions are drawn by a generator seeded with the run's seed
and the stratum's code (a seeded shuffle, then a prefix), so adding questions to one risk
never swaps the questions drawn from another; at most it draws fewer of them. The
sample is returned in a seeded shuffled order: a run cut short still covers the risks
evenly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.assess.bank import BankItem


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """How many to draw from each stratum so that the total is ``min(n, sum(sizes))``."""
    strata = sorted(code for code, size in sizes.items() if size > 0)
    total = sum(sizes[c] for c in strata)
    if n >= total:
        return {c: sizes[c] for c in strata}
    base = {c: 1 if n >= len(strata) else 0 for c in strata}
    rest = n - sum(base.values())
    spare = {c: sizes[c] - base[c] for c in strata}
    spare_total = sum(spare.values())
    quotas = {c: rest * spare[c] / spare_total for c in strata} if spare_total else {}
    out = {c: base[c] + int(quotas.get(c, 0)) for c in strata}
    left = n - sum(out.values())
    by_remainder = sorted(strata, key=lambda c: (-(quotas.get(c, 0) % 1), c))
    for c in by_remainder:
        if left <= 0:
            break
        if out[c] < sizes[c]:
            out[c] += 1
            left -= 1
    return {c: k for c, k in out.items() if k}


def stratified_sample(items: Sequence[BankItem], n: int, seed: int) -> list[BankItem]:
    """``n`` items (or all, when there are fewer), stratified by :attr:`BankItem.stratum`."""
    strata: dict[str, list[BankItem]] = {}
    for item in items:
        strata.setdefault(item.stratum, []).append(item)
    counts = allocate({c: len(v) for c, v in strata.items()}, n)
    chosen: list[BankItem] = []
    for code, k in sorted(counts.items()):
        pool = sorted(strata[code], key=lambda i: i.id)
        random.Random(f"{seed}:{code}").shuffle(pool)
        chosen.extend(pool[:k])  # a prefix: a smaller allocation draws a subset
    chosen.sort(key=lambda i: i.id)
    random.Random(seed).shuffle(chosen)
    return chosen
