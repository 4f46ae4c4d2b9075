"""The decision log newest first, on a store that reads in time order only.

``AuditStore.query`` returns records oldest first after a cursor, which suits exports; a
person opening the log wants the latest blocks on the first page. This finds the newest
``n`` records before a point in time by querying a time window ending there, widening it
while it holds too few records and narrowing it while it holds more than one query
returns, then taking the window's last ``n``. Each step is one bounded query.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from gateway.audit.record import DecisionRecord
from gateway.audit.store import AuditStore, RecordFilter

WINDOW_ROWS = 1000  # one query's limit
FIRST_WINDOW = timedelta(hours=1)
OLDEST = timedelta(days=800)  # past any retention: beyond this there is nothing to find
MAX_STEPS = 48
Cursor = tuple[datetime, str]


async def newest(
    store: AuditStore, flt: RecordFilter, n: int, *, before: Cursor | None = None,
    now: datetime | None = None,
) -> list[DecisionRecord]:  # fmt: skip
    """Up to ``n`` records matching ``flt``, newest first, strictly before ``before``."""
    tick = timedelta(microseconds=1)
    end = (
        before[0] + tick
        if before is not None
        else (now or datetime.now(UTC)) + timedelta(seconds=1)
    )
    if flt.until is not None:
        end = min(end, flt.until)
    bound = flt.since if flt.since is not None else end - OLDEST
    width, too_wide, too_narrow = FIRST_WINDOW, None, None
    page: list[DecisionRecord] = []
    for _ in range(MAX_STEPS):
        start = max(end - width, bound)
        page = await store.query(dataclasses.replace(flt, since=start, until=end),
                                 limit=WINDOW_ROWS)  # fmt: skip
        full = len(page) >= WINDOW_ROWS
        if before is not None:
            page = [r for r in page if (r.ts, r.id) < before]
        if full and width > tick:
            too_wide = width
            width = (too_narrow + width) / 2 if too_narrow is not None else width / 8
        elif len(page) < n and start > bound:
            too_narrow = width
            width = (width + too_wide) / 2 if too_wide is not None else width * 8
        else:
            break
    return page[-n:][::-1]
