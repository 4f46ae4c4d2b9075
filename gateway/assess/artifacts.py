"""Writing a run's report files: ``report.json``, ``scored.<target>.jsonl`` (each answer with
its refusal verdict and its keyword, classifier and manual judgements) and the HTML and XLSX
renderings in both languages, each replaced atomically so the console never serves half a
file."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from gateway.assess.report import Report
from gateway.assess.report_html import render_html
from gateway.assess.report_xlsx import write_xlsx
from gateway.assess.rundir import RunDir, write_json

LANGS = ("zh", "en")


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def write_reports(rd: RunDir, report: Report) -> list[Path]:
    """All report files of ``rd``; returns their paths."""
    write_json(rd.report_json, report.data)
    out = [rd.report_json]
    for target, items in report.items.items():
        # Every answer with every verdict on it, for auditors and scripts.
        path = rd.path / f"scored.{target}.jsonl"
        _tmp(path).write_bytes(b"".join(orjson.dumps(i) + b"\n" for i in items))
        os.replace(_tmp(path), path)
        out.append(path)
    for lang in LANGS:
        html_path, xlsx_path = rd.report_path(lang, "html"), rd.report_path(lang, "xlsx")
        _tmp(html_path).write_text(render_html(report.data, lang), "utf-8")
        os.replace(_tmp(html_path), html_path)
        write_xlsx(report, _tmp(xlsx_path), lang)
        os.replace(_tmp(xlsx_path), xlsx_path)
        out += [html_path, xlsx_path]
    return out
