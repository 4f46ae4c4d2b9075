"""The pure parts of complaints and reports: the policy section and its errors, rate
windows, statistics, exports and incident records."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from openpyxl import load_workbook

from gateway.audit.record import DecisionRecord
from gateway.policy.loader import PolicyError, parse_policy
from gateway.policy.model import Policy, RateLimit
from gateway.reports.export import TICKET_COLUMNS, ticket_rows, write
from gateway.reports.incidents import IncidentError, parse_incident, render_incident
from gateway.reports.model import Incident, Status, Ticket
from gateway.reports.ratelimit import MemoryWindows, RateLimiter
from gateway.reports.stats import TicketStats, percentile
from tests.support.paths import SHIPPED_POLICY

T0 = 1_800_000_000.0


# --- the policy section
def test_policy_without_a_reports_section_gets_the_builtin_process_and_reasons() -> None:
    spec = Policy().reports
    assert spec.enabled and spec.response_hours == 72
    assert "12377" in spec.process.zh and spec.process.en
    assert spec.reason("other") is not None and spec.hours_for("terrorism") == 24
    assert spec.hours_for("other") == 72 and spec.hours_for("unknown") == 72


def test_shipped_policy_publishes_a_process_and_covers_the_taxonomy() -> None:
    policy = parse_policy(SHIPPED_POLICY.read_text("utf-8"), str(SHIPPED_POLICY))
    spec = policy.reports
    covered = {code for r in spec.reasons for code in r.categories}
    assert {f"A1.0{i}" for i in range(1, 9)} <= covered  # every A.1 risk can be reported
    assert spec.reasons[-1].code == "other" and spec.process.zh.startswith("1.")


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("reports:\n  response_hour: 5\n", "x.yaml:2: unknown key 'response_hour' in 'reports'"),
        ("reports:\n  response_hours: 0\n",
         "x.yaml:2: reports.response_hours: Input should be greater than 0"),
        ("reports:\n  reasons:\n    - code: a\n      label: {zh: 甲, en: A}\n      categories: [A9.99]\n",
         "x.yaml:5: reports.reasons.0.categories: unknown taxonomy code(s): A9.99"),
        ("reports:\n  reasons:\n    - code: a\n      label: {zh: 甲, en: A}\n",
         "x.yaml:2: reports.reasons: the reasons must include one with code 'other'"),
        ("reports:\n  reasons:\n    - {code: other, label: {zh: 甲, en: A}}\n"
         "    - {code: other, label: {zh: 乙, en: B}}\n",
         "x.yaml:2: reports.reasons: duplicate reason code(s): other"),
        ("reports:\n  reasons:\n    - {code: Bad-Code, label: {zh: 甲, en: A}}\n",
         "x.yaml:3: reports.reasons.0.code: String should match pattern"),
        ("reports:\n  per_user: {count: 0, seconds: 60}\n",
         "x.yaml:2: reports.per_user.count: Input should be greater than or equal to 1"),
        ("reports:\n  text: hash\n", "x.yaml:2: reports.text: Input should be 'redacted' or 'full'"),
    ],
)  # fmt: skip
def test_reports_section_errors_name_file_line_and_key(section: str, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(section, "x.yaml")
    assert any(str(p).startswith(expected) for p in info.value.problems), info.value.problems


# --- rate windows
def test_memory_window_counts_refuses_and_reopens() -> None:
    now = [100.0]
    windows = MemoryWindows(clock=lambda: now[0])
    limit = RateLimit(count=2, seconds=60)
    assert windows.hit("k", limit) is None and windows.hit("k", limit) is None
    assert windows.hit("k", limit) == 60.0
    now[0] += 45
    assert windows.hit("k", limit) == 15.0
    assert windows.hit("other", limit) is None  # keys are independent
    now[0] += 15
    assert windows.hit("k", limit) is None  # a new window


def test_memory_windows_forget_the_oldest_keys_past_the_bound() -> None:
    windows = MemoryWindows(clock=lambda: 0.0, max_keys=3)
    limit = RateLimit(count=1, seconds=60)
    for k in "abcd":
        assert windows.hit(k, limit) is None
    assert windows.hit("a", limit) is None  # "a" was dropped, so it counts afresh
    assert windows.hit("d", limit) is not None


async def test_redis_windows_are_shared_and_keys_hold_no_raw_ids() -> None:
    redis = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    prefix = f"rl{uuid.uuid4().hex[:8]}"
    a, b = RateLimiter("k" * 32, redis, prefix), RateLimiter("k" * 32, redis, prefix)
    limit = RateLimit(count=2, seconds=30)
    try:
        assert await a.hit("user", "10.1.2.3", limit) is None
        assert await b.hit("user", "10.1.2.3", limit) is None
        wait = await a.hit("user", "10.1.2.3", limit)
        assert wait is not None and 0 < wait <= 30
        keys = [k.decode() async for k in redis.scan_iter(f"{prefix}:*")]
        assert keys and not any("10.1.2.3" in k for k in keys)
    finally:
        async for k in redis.scan_iter(f"{prefix}:*"):
            await redis.delete(k)
        await redis.aclose()


async def test_redis_down_falls_back_to_counting_locally() -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RateLimiter("k" * 32, dead)
    limit = RateLimit(count=1, seconds=60)
    try:
        assert await limiter.hit("source", "x", limit) is None
        assert await limiter.hit("source", "x", limit) is not None
    finally:
        await dead.aclose()


# --- statistics
def ticket(**kw: Any) -> Ticket:
    values: dict[str, Any] = {
        "id": "rpt_" + uuid.uuid4().hex[:24], "tenant": "default", "merge_key": "k",
        "decision_id": "", "record_ids": (), "text": None, "text_source": "none",
        "reason": "other", "categories": (), "policy_version": "pv", "decision_action": "",
        "status": Status.OPEN.value, "created": T0, "due": T0 + 3600,
    }  # fmt: skip
    values.update(kw)
    return Ticket(**values)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 0.5, None), ([5.0], 0.95, 5.0), ([1, 2, 3, 4], 0.5, 2), ([4, 1, 3, 2], 0.95, 4),
     (list(range(1, 101)), 0.95, 95), (list(range(1, 101)), 0.5, 50)],
)  # fmt: skip
def test_percentile_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def test_ticket_stats_counts_reasons_outcomes_answer_times_and_overdue() -> None:
    stats = TicketStats(now=T0 + 10 * 3600)
    stats.add(ticket(reason="terrorism", reports=3, status="closed", outcome="content_removed",
                     answered_at=T0 + 1800, closed_at=T0 + 1800))  # fmt: skip
    stats.add(ticket(reason="terrorism", status="closed", outcome="no_violation",
                     answered_at=T0 + 7200, closed_at=T0 + 7200))  # late: due after 1 h  # fmt: skip
    stats.add(ticket(reason="other", status="answered", answered_at=T0 + 3600))
    stats.add(ticket(reason="other"))  # open, due 1 h after T0: overdue now
    stats.add(ticket(reason="hatred", due=T0 + 20 * 3600))  # open, not yet due
    r = stats.result()
    assert r["tickets"] == 5 and r["reports"] == 7
    assert r["by_reason"] == {"terrorism": 2, "other": 2, "hatred": 1}
    assert r["by_outcome"] == {"content_removed": 1, "no_violation": 1}
    assert r["by_status"] == {"closed": 2, "open": 2, "answered": 1}
    assert r["answered"] == 3
    assert r["answer_hours_median"] == 1.0 and r["answer_hours_p95"] == 2.0
    assert (r["overdue_open"], r["answered_late"], r["overdue"]) == (1, 1, 2)


# --- exports
async def _aiter(items: Iterable[Ticket]) -> AsyncIterator[Ticket]:
    for i in items:
        yield i


async def _export(fmt: str, tickets: list[Ticket]) -> bytes:
    out = io.BytesIO()
    count = await write(fmt, TICKET_COLUMNS, ticket_rows(_aiter(tickets)), out, "complaints")
    assert count == len(tickets)
    return out.getvalue()


async def test_exports_keep_formulas_as_text_and_never_carry_contacts() -> None:
    t = ticket(text="=HYPERLINK(\"http://x\")", categories=("A1.04", "X1"), answer="@SUM(A1)",
               history=({"ts": T0, "by": "alice", "action": "answer", "detail": "ok"},))  # fmt: skip
    rows = list(csv.reader(io.StringIO((await _export("csv", [t])).decode("utf-8-sig"))))
    assert rows[0] == list(TICKET_COLUMNS) and "contact" not in rows[0]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["text"].startswith("'=") and row["answer"].startswith("'@")
    assert row["categories"] == "A1.04;X1" and row["created"] == "2027-01-15T08:00:00Z"
    [line] = (await _export("jsonl", [t])).splitlines()
    assert orjson.loads(line)["history"][0]["by"] == "alice"
    book = load_workbook(io.BytesIO(await _export("xlsx", [t])), read_only=True)
    cells = list(book["complaints"].iter_rows(values_only=True))
    assert cells[1][TICKET_COLUMNS.index("text")] == '=HYPERLINK("http://x")'  # a string cell
    with pytest.raises(ValueError):
        await _export("pdf", [t])


# --- incident records
FORM = {
    "title": "恐怖主义内容外泄", "description": "流式输出中出现", "occurred_at": "2026-05-01T08:30",
    "decision_ids": "dec_a-out, dec_b\ndec_a-out", "ticket_ids": "rpt_" + "0" * 24,
    "authority": "市网信办", "reported_at": "", "notes": "", "tenant": "",
}  # fmt: skip


def _parse(over: dict[str, str], lists: dict[str, list[str]] | None = None) -> Any:
    form = {**FORM, **over}
    multi = lists or {"categories": ["A1.04"], "measures": ["stopped_transmission"]}
    return parse_incident(lambda k: form.get(k, ""), lambda k: multi.get(k, []))


def test_incident_form_parses_ids_times_and_lists() -> None:
    f = _parse({})
    assert f.decision_ids == ("dec_a-out", "dec_b") and f.tenant == "default"
    assert f.occurred_at == 1_777_624_200.0 and f.reported_at is None
    assert f.categories == ("A1.04",) and f.measures == ("stopped_transmission",)


@pytest.mark.parametrize(
    ("over", "lists", "message"),
    [
        ({"title": ""}, None, "title: required"),
        ({"occurred_at": "yesterday"}, None, "occurred_at: not a date"),
        ({"decision_ids": "dec_<b>"}, None, "decision_ids: not an id"),
        ({"ticket_ids": "T-1"}, None, "ticket_ids: not an id"),
        ({}, {"categories": ["A9.99"], "measures": []}, "categories: unknown"),
        ({}, {"categories": [], "measures": ["shrug"]}, "measures: unknown"),
        ({"notes": "n" * 5001}, None, "notes: longer than 5000"),
    ],
)
def test_incident_form_errors_name_the_field(
    over: dict[str, str], lists: dict[str, list[str]] | None, message: str
) -> None:
    with pytest.raises(IncidentError, match=message):
        _parse(over, lists)


def test_incident_page_escapes_everything_and_lists_missing_decisions() -> None:
    incident = Incident(
        id="inc_1", tenant="default", title="<script>alert(1)</script>", description="经过",
        occurred_at=T0, created=T0, created_by="alice", decision_ids=("dec_a", "dec_gone"),
        categories=("A1.04",), measures=("reported_to_authority",), authority="网信办",
    )  # fmt: skip
    record = DecisionRecord(id="dec_a", ts=datetime.fromtimestamp(T0, UTC), direction="output",
                            action="block", categories=("A1.04",), text_mode="full",
                            text="<img src=x>", policy_version="pv9")  # fmt: skip
    page = render_incident(incident, [record], [ticket(text="被举报")])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<img" not in page and "&lt;img src=x&gt;" in page
    assert "向主管部门报告" in page and "pv9" in page and "dec_gone" in page
    assert "not in the log" in page and "被举报" in page
