"""Writing a run's report files: ``report.json`` and the HTML and XLSX renderings in both
languages, each replaced atomically so the console never serves half a file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from gateway.assess.report import Report
from gateway.assess.report_html import render_html
from gateway.assess.report_xlsx import write_xlsx
from gateway.assess.rundir import RunDir, write_json

LANGS = ("zh", "en")


def _replace(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write_reports(rd: RunDir, report: Report) -> list[Path]:
    """All report files of ``rd``; returns their paths."""
    write_json(rd.report_json, report.data)
    out = [rd.report_json]
    for lang in LANGS:
        html_path = rd.report_path(lang, "html")
        _replace(html_path, lambda p, lang=lang: p.write_text(render_html(report.data, lang), "utf-8"))
        xlsx_path = rd.report_path(lang, "xlsx")
        _replace(xlsx_path, lambda p, lang=lang: write_xlsx(report, p, lang))
        out += [html_path, xlsx_path]
    return out
