"""Retention arithmetic (pure): the legal minimum and the purge cutoff.

Cybersecurity Law Art. 21(3) and Labelling Measures Art. 9 require logs be kept for no
less than six months. Six calendar months is 181 to 184 days, so the 180-day default
retention alone would cut a few days short; ``purge_cutoff`` never goes later than the
legal cutoff unless forced.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

LEGAL_MINIMUM_MONTHS = 6
DEFAULT_RETENTION_DAYS = 180


def months_before(ts: datetime, months: int) -> datetime:
    """The same wall-clock time ``months`` calendar months earlier (day clamped to the
    month's length: Aug 31 minus six months is Feb 28/29)."""
    index = ts.year * 12 + (ts.month - 1) - months
    year, month = divmod(index, 12)
    day = min(ts.day, calendar.monthrange(year, month + 1)[1])
    return ts.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True, slots=True)
class Cutoff:
    at: datetime  # records older than this may be deleted
    requested: datetime
    legal: datetime
    clamped: bool  # the requested cutoff was later than the legal one and was pulled back


def purge_cutoff(now: datetime, retention_days: int, *, force: bool = False) -> Cutoff:
    requested = now - timedelta(days=retention_days)
    legal = months_before(now, LEGAL_MINIMUM_MONTHS)
    clamped = requested > legal and not force
    return Cutoff(legal if clamped else requested, requested, legal, clamped)
