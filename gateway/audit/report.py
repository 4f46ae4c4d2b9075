"""Statistics for filing (备案) and inspections, computed from the decision log.

``ReportBuilder`` is a pure, streaming aggregator: feed it records in any order, then ask
for the report. Memory is bounded by the taxonomy size, the distinct matched terms and
``max_incidents``, never by the number of records. ``render_html`` makes a standalone page
(no external assets) with every value escaped.

With a ``CheckpointReader`` the report also lists the newest signed checkpoint of every
chain its records belong to: printed or filed with the report, those heads let anyone
holding the key show later that none of these records was deleted or rewritten.
"""

from __future__ import annotations

import asyncio
import html
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.audit.checkpoint import CheckpointReader
from gateway.audit.record import DecisionRecord, format_ts
from gateway.taxonomy import categories

NO_CATEGORY = "-"  # allowed decisions with no category still count in the totals
TOP_TERMS = 20
MAX_INCIDENTS = 1000
MAX_SANCTIONED = 1000  # distinct pseudonyms listed; all are counted
NO_ENDING = "-"  # input records (nothing ended yet) and records from before endings


@dataclass(slots=True)
class _Cell:
    total: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    terms: Counter[str] = field(default_factory=Counter)


class ReportBuilder:
    def __init__(self, max_incidents: int = MAX_INCIDENTS) -> None:
        self._cells: dict[tuple[str, str], _Cell] = {}
        self._directions: dict[str, Counter[str]] = {}
        self._endings: Counter[str] = Counter()
        self.chains: set[str] = set()  # bounded by the number of writer instances
        self._terms: Counter[str] = Counter()
        self._incidents: list[dict[str, Any]] = []
        self._incident_count = 0
        self._sanctions: Counter[str] = Counter()  # pseudonym -> sanctioned decisions
        self._sanction_count = 0
        self._max_incidents = max_incidents
        self._first: datetime | None = None
        self._last: datetime | None = None
        self.records = 0

    def add(self, r: DecisionRecord) -> None:
        self.records += 1
        self._first = r.ts if self._first is None or r.ts < self._first else self._first
        self._last = r.ts if self._last is None or r.ts > self._last else self._last
        self._directions.setdefault(r.direction, Counter())[r.action] += 1
        self._endings[r.ending or NO_ENDING] += 1
        self.chains.add(r.chain_id)
        self._terms.update(r.matched_terms)
        for code in r.categories or (NO_CATEGORY,):
            cell = self._cells.setdefault((code, r.direction), _Cell())
            cell.total += 1
            cell.actions[r.action] += 1
            cell.terms.update(r.matched_terms)
        if r.sanction:
            self._sanction_count += 1
            if r.user and (r.user in self._sanctions or len(self._sanctions) < MAX_SANCTIONED):
                self._sanctions[r.user] += 1
        if r.incident:
            self._incident_count += 1
            if len(self._incidents) < self._max_incidents:
                self._incidents.append(_incident(r))

    def add_all(self, records: Iterable[DecisionRecord]) -> None:
        for r in records:
            self.add(r)

    async def add_async(self, records: AsyncIterator[DecisionRecord]) -> None:
        async for r in records:
            self.add(r)

    def result(self, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        names = categories()
        rows = []
        for (code, direction), cell in sorted(self._cells.items()):
            cat = names.get(code)
            rows.append({
                "category": code,
                "name_zh": cat.name_zh if cat else "",
                "name_en": cat.name_en if cat else "",
                "direction": direction,
                "count": cell.total,
                "blocked": cell.actions["block"],
                "flagged": cell.actions["flag"],
                "block_rate": _rate(cell.actions["block"], cell.total),
                "flag_rate": _rate(cell.actions["flag"], cell.total),
                "actions": dict(cell.actions),
                "top_terms": cell.terms.most_common(5),
            })  # fmt: skip
        inputs = self._directions.get("input", Counter())
        input_total = sum(inputs.values())
        return {
            "filters": filters or {},
            "records": self.records,
            "first": format_ts(self._first) if self._first else None,
            "last": format_ts(self._last) if self._last else None,
            "by_direction": {d: dict(c) for d, c in sorted(self._directions.items())},
            "by_ending": dict(sorted(self._endings.items())),
            "input_refusal_rate": _rate(inputs["block"], input_total),
            "by_category": rows,
            "top_terms": self._terms.most_common(TOP_TERMS),
            "sanction_count": self._sanction_count,
            "sanctioned_users": self._sanctions.most_common(),
            "incident_count": self._incident_count,
            "incidents": self._incidents,
        }


def _rate(n: int, total: int) -> float:
    return round(n / total, 6) if total else 0.0


def _incident(r: DecisionRecord) -> dict[str, Any]:
    return {
        "id": r.id, "ts": format_ts(r.ts), "tenant": r.tenant, "user": r.user,
        "route": r.route, "categories": list(r.categories), "action": r.action,
        "matched_terms": list(r.matched_terms),
    }  # fmt: skip


_CSS = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}
th{background:#f2f2f2;text-align:left}td.n{text-align:right}caption{text-align:left;font-weight:bold}
"""


def render_html(
    report: dict[str, Any],
    title: str = "内容安全审计报告 Content-safety audit report",
    extra: Iterable[str] = (),
) -> str:
    """A standalone HTML page; labels in Chinese with English. ``extra`` holds further
    sections, already escaped (the complaint statistics of ``gateway.reports.stats``)."""

    def e(v: Any) -> str:
        return html.escape(str(v), quote=True)

    def pct(v: float) -> str:
        return f"{v * 100:.2f}%"

    def table(caption: str, headers: list[str], rows: list[list[Any]], numeric: set[int]) -> str:
        head = "".join(f"<th>{e(h)}</th>" for h in headers)
        body = "".join(
            "<tr>" + "".join(
                f'<td class="n">{e(v)}</td>' if i in numeric else f"<td>{e(v)}</td>"
                for i, v in enumerate(row)
            ) + "</tr>"
            for row in rows
        )  # fmt: skip
        return f"<table><caption>{e(caption)}</caption><tr>{head}</tr>{body}</table>"

    checkpoints = report.get("checkpoints", [])
    latest = max((c for c in checkpoints if c["at"]), key=lambda c: c["at"], default=None)
    summary = [
        ["记录数 Records", report["records"]],
        ["最新签名检查点 Latest signed checkpoint", _checkpoint_line(latest)],
        ["时间范围 Period", f"{report['first'] or '-'} — {report['last'] or '-'}"],
        ["输入拒答率 Input refusal rate", pct(report["input_refusal_rate"])],
        ["事件数 Incidents (output stopped mid-generation)", report["incident_count"]],
        ["处置用户决策数 Decisions under a user sanction", report["sanction_count"]],
        ["筛选条件 Filters", ", ".join(f"{k}={v}" for k, v in report["filters"].items()) or "-"],
    ]
    by_ending = [[k, v] for k, v in report["by_ending"].items()]
    by_dir = [
        [d, sum(c.values()), c.get("block", 0), c.get("flag", 0)]
        for d, c in report["by_direction"].items()
    ]
    by_cat = [
        [
            r["category"], f"{r['name_zh']} {r['name_en']}".strip(), r["direction"], r["count"],
            r["blocked"], pct(r["block_rate"]), r["flagged"], pct(r["flag_rate"]),
            ", ".join(f"{t} ({n})" for t, n in r["top_terms"]),
        ]
        for r in report["by_category"]
    ]  # fmt: skip
    incidents = [
        [
            i["ts"],
            i["id"],
            i["tenant"],
            i["route"],
            ";".join(i["categories"]),
            ";".join(i["matched_terms"]),
        ]
        for i in report["incidents"]
    ]
    parts = [
        table("概要 Summary", ["项目 Item", "值 Value"], summary, set()),
        table(
            "按方向 By direction",
            ["方向 Direction", "总数 Total", "拦截 Blocked", "标记 Flagged"],
            by_dir,
            {1, 2, 3},
        ),
        table(
            "按结束方式 By how the exchange ended",
            ["结束方式 Ending", "记录数 Records"],
            by_ending,
            {1},
        ),
        table(
            "按类别与方向 By category and direction",
            [
                "代码 Code",
                "类别 Category",
                "方向 Direction",
                "总数 Count",
                "拦截 Blocked",
                "拦截率 Block rate",
                "标记 Flagged",
                "标记率 Flag rate",
                "命中词 Top terms",
            ],
            by_cat,
            {3, 4, 5, 6, 7},
        ),
        table(
            "高频命中词 Top matched terms",
            ["词 Term", "次数 Count"],
            [list(t) for t in report["top_terms"]],
            {1},
        ),
        table(
            "被处置用户 Sanctioned users (pseudonymous)",
            ["用户 User", "决策数 Decisions"],
            [list(u) for u in report["sanctioned_users"]],
            {1},
        ),
        table(
            "事件 Incidents (生成中止 output stopped mid-generation)",
            [
                "时间 Time",
                "决策编号 Decision id",
                "租户 Tenant",
                "路由 Route",
                "类别 Categories",
                "命中词 Terms",
            ],
            incidents,
            set(),
        ),
        table(
            "签名检查点 Signed checkpoints (HMAC-SHA256; check with gateway audit verify)",
            ["链 Chain", "序号 Seq", "哈希 Hash", "时间 Time", "密钥 Key id", "签名 MAC"],
            [
                [c[k] for k in ("chain_id", "seq", "hash", "at", "key_id", "mac")]
                for c in checkpoints
            ],
            {1},
        ),
    ]
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>{''.join(parts)}{''.join(extra)}"
        "</body></html>\n"
    )


def _checkpoint_line(c: dict[str, Any] | None) -> str:
    if c is None:
        return "-"
    return f"{c['chain_id']} seq {c['seq']} hash {c['hash']} ({c['at']})"


async def build_report(
    records: AsyncIterator[DecisionRecord],
    filters: dict[str, Any],
    checkpoints: CheckpointReader | None = None,
) -> dict[str, Any]:
    """The report; with ``checkpoints``, the newest checkpoint of each chain in it."""
    builder = ReportBuilder()
    await builder.add_async(records)
    result = builder.result(filters)
    if checkpoints is not None:
        found = await asyncio.to_thread(checkpoints.latest, sorted(builder.chains))
        result["checkpoint_dir"] = str(checkpoints.directory)
        result["checkpoints"] = [
            found[c].to_dict() if c in found else {
                "chain_id": c, "seq": None, "hash": "", "record_id": "", "at": "",
                "key_id": "", "mac": "",
            }
            for c in sorted(builder.chains)
        ]  # fmt: skip
    return result
