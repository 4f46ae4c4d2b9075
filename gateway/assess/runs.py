"""The runs under the assessment directory (``Settings.assess_dir``), for the console."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.assess.rundir import RunDir, read_json

RUN_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# What may be downloaded from a run directory, and as what.
DOWNLOADS = {
    "report.zh.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "report.en.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "report.zh.html": "text/html; charset=utf-8",
    "report.en.html": "text/html; charset=utf-8",
    "report.json": "application/json",
    "manual_sampling.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "results.service.jsonl": "application/x-ndjson",
    "results.baseline.jsonl": "application/x-ndjson",
    "scored.service.jsonl": "application/x-ndjson",
    "scored.baseline.jsonl": "application/x-ndjson",
}


@dataclass(slots=True)
class RunSummary:
    name: str
    created: str
    status: dict[str, Any]
    conclusion: str | None  # pass / fail / incomplete, once a report exists
    report: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return str(self.status.get("state", "new"))

    def done(self) -> int:
        """Answers received, over every target (the total counts every target, too)."""
        return sum(int(v) for v in (self.status.get("done") or {}).values())

    def errors(self) -> int:
        return sum(int(v) for v in (self.status.get("errors") or {}).values())


def run_dir(root: Path, name: str) -> RunDir | None:
    """The run called ``name`` directly under ``root``, or None (never a path outside it)."""
    if not RUN_NAME.match(name) or name in (".", ".."):
        return None
    rd = RunDir(root / name)
    return rd if rd.exists() else None


def summary(rd: RunDir, with_report: bool = False) -> RunSummary:
    meta = rd.meta()
    report = read_json(rd.report_json) if rd.report_json.exists() else None
    files = [n for n in DOWNLOADS if (rd.path / n).exists()]
    conclusion = report["conclusion"]["status"] if report else None
    return RunSummary(rd.path.name, str(meta.get("created", "")), rd.status(), conclusion,
                      report if with_report else None, files)  # fmt: skip


def list_runs(root: Path) -> list[RunSummary]:
    """Every run directory under ``root``, newest first."""
    if not root.is_dir():
        return []
    runs = [summary(rd) for p in root.iterdir() if (rd := run_dir(root, p.name)) is not None]
    return sorted(runs, key=lambda r: (r.created, r.name), reverse=True)
