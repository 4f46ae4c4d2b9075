"""Retention arithmetic: six calendar months, and the purge cutoff never later than that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.audit.retention import months_before, purge_cutoff


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 26, 9, 0, tzinfo=UTC), datetime(2026, 5, 26, 9, 0, tzinfo=UTC)),
        (datetime(2026, 8, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)),  # clamped day
        (datetime(2028, 8, 31, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC)),  # leap year
        (datetime(2026, 3, 15, tzinfo=UTC), datetime(2025, 9, 15, tzinfo=UTC)),  # year boundary
        (datetime(2026, 6, 30, tzinfo=UTC), datetime(2025, 12, 30, tzinfo=UTC)),
    ],
)
def test_six_calendar_months_before(now: datetime, expected: datetime) -> None:
    assert months_before(now, 6) == expected


def test_default_retention_is_pulled_back_to_the_legal_minimum() -> None:
    now = datetime(2026, 8, 1, tzinfo=UTC)  # Feb..Jul: 181 days in six months
    c = purge_cutoff(now, 180)
    assert c.clamped and c.at == c.legal == datetime(2026, 2, 1, tzinfo=UTC)
    assert c.requested == now - timedelta(days=180)


def test_longer_retention_is_kept_and_force_overrides() -> None:
    now = datetime(2026, 8, 1, tzinfo=UTC)
    assert purge_cutoff(now, 365).at == now - timedelta(days=365)
    assert not purge_cutoff(now, 365).clamped
    forced = purge_cutoff(now, 30, force=True)
    assert forced.at == now - timedelta(days=30) and not forced.clamped
