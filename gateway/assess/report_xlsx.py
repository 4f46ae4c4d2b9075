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


def write_xlsx(report: Report, path: Path, lang: str = "zh") -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    def t(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    def pick(table: dict[str, tuple[str, str]], key: str) -> str:
        zh, en = table.get(key, (key, key))
        return t(zh, en)

    std = standard()
    r = report.data
    wb = Workbook()
    ws = wb.active
    ws.title = t("结论", "Summary")

    def sheet(title: str, header: list[str], rows: list[list[Any]]) -> None:
        s = wb.create_sheet(title)
        s.append(header)
        for cell in s[1]:
            cell.font = Font(bold=True)
        for row in rows:
            s.append([_cell(v) for v in row])
        s.freeze_panes = "A2"

    c = r["conclusion"]
    ws.append([t(r["title_zh"], r["title_en"])])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([t("生成时间", "Generated"), r["generated"]])
    ws.append([t("评估结论", "Conclusion"), pick(STATUS, c["status"])])
    ws.append([t("不符合的“应”条款", "Failed shall clauses"), _cell(c["failed"])])
    ws.append(
        [
            t("判定所用策略", "Judging policy"),
            f"{r['judge']['policy_name']} {r['judge']['policy_version']}",
        ]
    )
    ws.append([t("拒答识别器精确率/召回率", "Refusal detector precision/recall"),
               f"{r['detector']['precision']} / {r['detector']['recall']} (n={r['detector']['n']})"])  # fmt: skip
    ws.append([])
    header = [t("条款", "Clause"), t("要求级别", "Modal"), t("要求", "Requirement"),
              t("阈值", "Threshold"), t("实测", "Measured"), t("95%置信区间", "95% CI"),
              t("结果", "Result")]  # fmt: skip
    ws.append(header)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    service = r["targets"].get("service", {}).get("clauses", {})
    for q in r["requirements"]:
        ci = (service.get(q["key"]) or {}).get("ci95")
        ws.append([q["clause"], t("应", "shall") if q["modal"] == "shall" else t("宜", "should"),
                   t(q["text_zh"], q["text_en"]), t(q["threshold_zh"], q["threshold"]),
                   t(q["value_zh"], q["value"]),
                   f"{ci[0]:.4f} – {ci[1]:.4f}" if ci else "-", pick(STATUS, q["status"])])  # fmt: skip
    for col, width in zip("ABCDEFG", (12, 8, 48, 24, 22, 20, 12), strict=True):
        ws.column_dimensions[col].width = width

    rows: list[list[Any]] = []
    for tname, tg in r["targets"].items():
        for key, cl in tg["clauses"].items():
            rows.append([pick(TARGET, tname), cl["clause"], pick(METHOD, key), "*", "", cl["n"],
                         cl["k"], cl["value"], _cell(cl["ci95"]), pick(STATUS, cl["status"]),
                         cl["errors"], cl["note"]])  # fmt: skip
            for p in cl["per_code"]:
                rows.append([pick(TARGET, tname), cl["clause"], pick(METHOD, key), p["code"],
                             std.code_name(p["code"], lang), p["n"], p["k"], p["value"]])  # fmt: skip
    sheet(t("抽样结果", "Samplings"),
          [t("对象", "Target"), t("条款", "Clause"), t("方法", "Method"), t("编号", "Code"),
           t("名称", "Name"), "n", "k", t("比例", "Rate"), t("95%置信区间", "95% CI"),
           t("结果", "Result"), t("出错", "Errors"), t("说明", "Note")], rows)  # fmt: skip

    if r.get("comparison"):
        sheet(t("对照", "Comparison"),
              [t("指标", "Measure"), pick(TARGET, "service"), pick(TARGET, "baseline"),
               t("差值", "Difference")],
              [[pick(METHOD, m["key"]), m["service"], m["baseline"], m["delta"]]
               for m in r["comparison"]])  # fmt: skip

    bank_rows = [[b["bank"], x["code"], std.code_name(x["code"], lang),
                  x["count"], x["minimum"], "ok" if x["ok"] else f"-{x['missing']}",
                  t("运营方补充", "operator") if x["operator"] else ""]
                 for b in (r.get("bank_coverage") or {}).get("banks", []) for x in b["codes"]]  # fmt: skip
    sheet(t("题库覆盖", "Bank coverage"),
          [t("题库", "Bank"), t("编号", "Code"), t("名称", "Name"), t("题数", "Questions"),
           t("建议最少", "Recommended"), t("状态", "Status"), ""], bank_rows)  # fmt: skip
    kw = r["keyword_coverage"]
    sheet(t("关键词覆盖", "Keyword coverage"),
          [t("编号", "Code"), t("名称", "Name"), t("词数", "Terms"), t("建议最少", "Recommended")],
          [[x["code"], std.code_name(x["code"], lang), x["count"], x["minimum"]]
           for x in kw["categories"]] + [[t("合计", "Total"), "", kw["total"], kw["total_minimum"]]])  # fmt: skip

    ok, bad = t("合格", "acceptable"), t("不合格", "unacceptable")

    def verdict(j: dict[str, Any] | None) -> str:
        return "" if j is None else (ok if j["acceptable"] else f"{bad} {_cell(j['risks'])}")

    for tname, items in report.items.items():
        prefix = "" if tname == "service" else t("对照-", "baseline-")
        gen = [i for i in items if i["bank"] == "generated_content"]
        sheet((prefix + t("生成内容", "Generated content"))[:31],
              ["ID", t("风险类别", "Risk"), t("题目", "Question"), t("回答", "Answer"),
               t("人工判定", "Manual"), t("关键词判定", "Keyword"), t("分类模型判定", "Classifier"),
               t("决策编号", "Decision id"), t("错误", "Error")],
              [[i["id"], i["risk"], i["question"], i["answer"], verdict(i["manual"]),
                verdict(i["keyword"]), verdict(i["classifier"]), i["decision_id"], i["error"]]
               for i in gen])  # fmt: skip
        refusal_banks: tuple[tuple[BankName, bool], ...] = (
            ("should_refuse", True), ("should_answer", False),
        )  # fmt: skip
        for bank, good_when_refused in refusal_banks:
            rows = [[i["id"], i["aspect"] or i["risk"], i["question"], i["answer"], i["refusal"],
                     "" if i["refusal"] is None
                     else ok if (i["refusal"] != "answered") == good_when_refused else bad,
                     i["decision_id"], i["error"]]
                    for i in items if i["bank"] == bank]  # fmt: skip
            sheet((prefix + std.banks[bank].title(lang))[:31],
                  ["ID", t("风险类别/方面", "Risk / aspect"), t("题目", "Question"),
                   t("回答", "Answer"), t("拒答识别", "Refusal detector"), t("判定", "Verdict"),
                   t("决策编号", "Decision id"), t("错误", "Error")], rows)  # fmt: skip
    wb.save(path)
