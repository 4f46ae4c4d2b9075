"""The report as a workbook, in Chinese or English: the clause table first, then per-risk
breakdowns, the comparison, bank and keyword coverage, and one sheet per bank with every
question, answer and judgement (the layout of filing attachment 5, 评估测试题: question,
risk, answer, 合格/不合格)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.assess.report import Report
from gateway.assess.report_html import METHOD, STATUS, TARGET
from gateway.assess.standard import BankName, standard

MAX_CELL = 32_000


def _cell(v: Any) -> Any:
    if isinstance(v, str):
        return v[:MAX_CELL]
    if isinstance(v, list | tuple):
        return ", ".join(map(str, v))
    return v


class _Book:
    """One workbook in one language; a method per sheet."""

    def __init__(self, report: Report, lang: str) -> None:
        from openpyxl import Workbook

        self.report, self.r, self.lang = report, report.data, lang
        self.std = standard()
        self.wb = Workbook()

    def t(self, zh: str, en: str) -> str:
        return en if self.lang == "en" else zh

    def pick(self, table: dict[str, tuple[str, str]], key: str) -> str:
        zh, en = table.get(key, (key, key))
        return self.t(zh, en)

    def sheet(self, title: str, header: list[str], rows: list[list[Any]]) -> None:
        from openpyxl.styles import Font

        ws = self.wb.create_sheet(title[:31])  # Excel's limit on sheet names
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([_cell(v) for v in row])
        ws.freeze_panes = "A2"

    def summary(self) -> None:
        """The conclusion, versions and the clause table."""
        from openpyxl.styles import Font

        t, r = self.t, self.r
        ws = self.wb.active
        ws.title = t("结论", "Summary")
        det = r["detector"]
        ws.append([t(r["title_zh"], r["title_en"])])
        ws["A1"].font = Font(bold=True, size=14)
        for row in (
            [t("生成时间", "Generated"), r["generated"]],
            [t("评估结论", "Conclusion"), self.pick(STATUS, r["conclusion"]["status"])],
            [t("不符合的“应”条款", "Failed shall clauses"), _cell(r["conclusion"]["failed"])],
            [t("判定所用策略", "Judging policy"),
             f"{r['judge']['policy_name']} {r['judge']['policy_version']}"],
            [t("拒答识别器精确率/召回率", "Refusal detector precision/recall"),
             f"{det['precision']} / {det['recall']} (n={det['n']})"],
            [],
            [t("条款", "Clause"), t("要求级别", "Modal"), t("要求", "Requirement"),
             t("阈值", "Threshold"), t("实测", "Measured"), t("95%置信区间", "95% CI"),
             t("结果", "Result")],
        ):  # fmt: skip
            ws.append(row)
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
        service = r["targets"].get("service", {}).get("clauses", {})
        for q in r["requirements"]:
            ci = (service.get(q["key"]) or {}).get("ci95")
            ws.append([q["clause"], t("应", "shall") if q["modal"] == "shall" else t("宜", "should"),
                       t(q["text_zh"], q["text_en"]), t(q["threshold_zh"], q["threshold"]),
                       t(q["value_zh"], q["value"]),
                       f"{ci[0]:.4f} – {ci[1]:.4f}" if ci else "-",
                       self.pick(STATUS, q["status"])])  # fmt: skip
        for col, width in zip("ABCDEFG", (12, 8, 48, 24, 22, 20, 12), strict=True):
            ws.column_dimensions[col].width = width

    def samplings(self) -> None:
        """Every sampling of every target, with its per-code breakdown, and the comparison."""
        t, pick = self.t, self.pick
        rows: list[list[Any]] = []
        for tname, tg in self.r["targets"].items():
            for key, cl in tg["clauses"].items():
                head = [pick(TARGET, tname), cl["clause"], pick(METHOD, key)]
                rows.append([*head, "*", "", cl["n"], cl["k"], cl["value"], _cell(cl["ci95"]),
                             pick(STATUS, cl["status"]), cl["errors"], cl["note"]])  # fmt: skip
                rows += [[*head, p["code"], self.std.code_name(p["code"], self.lang), p["n"],
                          p["k"], p["value"]] for p in cl["per_code"]]  # fmt: skip
        self.sheet(t("抽样结果", "Samplings"),
                   [t("对象", "Target"), t("条款", "Clause"), t("方法", "Method"),
                    t("编号", "Code"), t("名称", "Name"), "n", "k", t("比例", "Rate"),
                    t("95%置信区间", "95% CI"), t("结果", "Result"), t("出错", "Errors"),
                    t("说明", "Note")], rows)  # fmt: skip
        if self.r.get("comparison"):
            self.sheet(t("对照", "Comparison"),
                       [t("指标", "Measure"), pick(TARGET, "service"), pick(TARGET, "baseline"),
                        t("差值", "Difference")],
                       [[pick(METHOD, m["key"]), m["service"], m["baseline"], m["delta"]]
                        for m in self.r["comparison"]])  # fmt: skip

    def coverage(self) -> None:
        """Bank coverage (§8.2-8.3) and keyword library coverage (§8.1)."""
        t, name = self.t, self.std.code_name
        banks = (self.r.get("bank_coverage") or {}).get("banks", [])
        self.sheet(t("题库覆盖", "Bank coverage"),
                   [t("题库", "Bank"), t("编号", "Code"), t("名称", "Name"), t("题数", "Questions"),
                    t("建议最少", "Recommended"), t("状态", "Status"), ""],
                   [[b["bank"], x["code"], name(x["code"], self.lang), x["count"], x["minimum"],
                     "ok" if x["ok"] else f"-{x['missing']}",
                     t("运营方补充", "operator") if x["operator"] else ""]
                    for b in banks for x in b["codes"]])  # fmt: skip
        kw = self.r["keyword_coverage"]
        self.sheet(t("关键词覆盖", "Keyword coverage"),
                   [t("编号", "Code"), t("名称", "Name"), t("词数", "Terms"),
                    t("建议最少", "Recommended")],
                   [[x["code"], name(x["code"], self.lang), x["count"], x["minimum"]]
                    for x in kw["categories"]]
                   + [[t("合计", "Total"), "", kw["total"], kw["total_minimum"]]])  # fmt: skip

    def details(self) -> None:
        """One sheet per bank and target: every question, answer and verdict."""
        t = self.t
        ok, bad = t("合格", "acceptable"), t("不合格", "unacceptable")

        def verdict(j: dict[str, Any] | None) -> str:
            return "" if j is None else (ok if j["acceptable"] else f"{bad} {_cell(j['risks'])}")

        refusal_banks: tuple[tuple[BankName, bool], ...] = (
            ("should_refuse", True), ("should_answer", False),
        )  # fmt: skip
        for tname, items in self.report.items.items():
            prefix = "" if tname == "service" else t("对照-", "baseline-")
            self.sheet(prefix + t("生成内容", "Generated content"),
                       ["ID", t("风险类别", "Risk"), t("题目", "Question"), t("回答", "Answer"),
                        t("人工判定", "Manual"), t("关键词判定", "Keyword"),
                        t("分类模型判定", "Classifier"), t("决策编号", "Decision id"),
                        t("错误", "Error")],
                       [[i["id"], i["risk"], i["question"], i["answer"], verdict(i["manual"]),
                         verdict(i["keyword"]), verdict(i["classifier"]), i["decision_id"],
                         i["error"]]
                        for i in items if i["bank"] == "generated_content"])  # fmt: skip
            for bank, good_when_refused in refusal_banks:
                rows = [[i["id"], i["aspect"] or i["risk"], i["question"], i["answer"],
                         i["refusal"], "" if i["refusal"] is None
                         else ok if (i["refusal"] != "answered") == good_when_refused else bad,
                         i["decision_id"], i["error"]]
                        for i in items if i["bank"] == bank]  # fmt: skip
                self.sheet(prefix + self.std.banks[bank].title(self.lang),
                           ["ID", t("风险类别/方面", "Risk / aspect"), t("题目", "Question"),
                            t("回答", "Answer"), t("拒答识别", "Refusal detector"),
                            t("判定", "Verdict"), t("决策编号", "Decision id"),
                            t("错误", "Error")], rows)  # fmt: skip


def write_xlsx(report: Report, path: Path, lang: str = "zh") -> None:
    """The report workbook in ``lang`` (zh or en)."""
    book = _Book(report, lang)
    book.summary()
    book.samplings()
    book.coverage()
    book.details()
    book.wb.save(path)
