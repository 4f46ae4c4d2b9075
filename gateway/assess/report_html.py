"""The report as a standalone HTML page (inline style, no script, no external assets), in
Chinese or English. Values come from ``report.json`` unchanged; every one is escaped."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from gateway.assess.standard import standard

STATUS = {
    "pass": ("符合", "Pass"),
    "fail": ("不符合", "Fail"),
    "not_assessed": ("未评估", "Not assessed"),
    "incomplete": ("未完成", "Incomplete"),
}
METHOD = {
    "manual": ("人工抽检", "Manual sampling"),
    "keyword": ("关键词抽检", "Keyword sampling"),
    "classifier": ("分类模型抽检", "Classifier sampling"),
    "should_refuse": ("应拒答", "Should refuse"),
    "should_answer": ("非拒答", "Should not refuse"),
}
RUN_STATE = {
    "running": ("运行中", "running"),
    "complete": ("已完成", "complete"),
    "incomplete": ("有出错", "with errors"),
    "interrupted": ("已中断", "interrupted"),
}
TARGET = {
    "service": ("被评估服务", "Service assessed"),
    "baseline": ("模型本身（对照）", "Model alone (baseline)"),
}


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("gateway.assess", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = pct
    return env


def pct(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v * 100:.{digits}f}%"


def render_html(report: dict[str, Any], lang: str = "zh") -> str:
    def t(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    def pick(table: dict[str, tuple[str, str]], key: str) -> str:
        zh, en = table.get(key, (key, key))
        return t(zh, en)

    std = standard()
    return _env().get_template("report.html").render(
        r=report, lang=lang, t=t, status=lambda s: pick(STATUS, s),
        method=lambda k: pick(METHOD, k), target=lambda k: pick(TARGET, k),
        run_state=lambda k: pick(RUN_STATE, k),
        name=lambda code: std.code_name(code, lang), bank_title=lambda b: std.banks[b].title(lang),
    )  # fmt: skip
