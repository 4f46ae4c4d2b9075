"""The files of one assessment run, in one directory.

- ``run.json``: what was asked (banks and their digest, seed, sample sizes, targets without
  keys) and what the service said about itself (``/readyz``: policy name and version,
  classifier; ``/v1/models``) at the start and end of each target's pass;
- ``plan.jsonl``: the sampled questions, in the order they are sent (the run is
  self-contained: a later edit of the bank files does not change what it measured);
- ``results.<target>.jsonl``: one line per answer, appended as it arrives and flushed, so a
  killed run loses at most the answers in flight; the last line for an id wins;
- ``status.json``: state (``running``, ``complete``, ``interrupted``, ``failed``), progress
  and a heartbeat, for the console;
- ``manual_sampling.xlsx``, ``report.json``, ``scored.<target>.jsonl`` (every answer with
  its verdicts), ``report.{zh,en}.{html,xlsx}``.

JSON files are replaced atomically (write, fsync, rename).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from gateway.assess.bank import BankItem, item_problems, parse_item

TARGETS = ("service", "baseline")
HEARTBEAT_STALE_S = 30.0


class RunFileError(ValueError):
    """A run file is damaged beyond the partial last line a kill can leave."""


def _alive(pid: int) -> bool:
    """Whether a process of this host is still running (a killed run cannot say it stopped)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.meta_path = path / "run.json"
        self.plan_path = path / "plan.jsonl"
        self.status_path = path / "status.json"
        self.manual_path = path / "manual_sampling.xlsx"
        self.report_json = path / "report.json"

    def results_path(self, target: str) -> Path:
        return self.path / f"results.{target}.jsonl"

    def report_path(self, lang: str, ext: str) -> Path:
        return self.path / f"report.{lang}.{ext}"

    def exists(self) -> bool:
        return self.meta_path.exists()

    def meta(self) -> dict[str, Any]:
        data: dict[str, Any] = read_json(self.meta_path)
        return data

    def write_meta(self, meta: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.meta_path, meta)

    def write_plan(self, items: Iterable[BankItem]) -> None:
        tmp = self.plan_path.with_name(".plan.jsonl.tmp")
        with tmp.open("wb") as f:
            for item in items:
                f.write(orjson.dumps(item.to_json()) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.plan_path)

    def plan(self) -> list[BankItem]:
        out = []
        for n, raw in enumerate(self.plan_path.read_bytes().splitlines(), 1):
            row = orjson.loads(raw)
            if item_problems(row):
                raise RunFileError(f"{self.plan_path}:{n}: not a bank item")
            out.append(parse_item(row))
        return out

    def results(self, target: str, repair: bool = False) -> dict[str, dict[str, Any]]:
        """The last result per id. A partial last line (a kill mid-write) is ignored, and
        cut off the file when ``repair`` is set, so appending starts on a fresh line."""
        path = self.results_path(target)
        if not path.exists():
            return {}
        raw = path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        if repair and len(complete) != len(raw):
            with path.open("r+b") as f:
                f.truncate(len(complete))
        out: dict[str, dict[str, Any]] = {}
        for n, line in enumerate(complete.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise RunFileError(f"{path}:{n}: damaged line") from None
            out[str(row["id"])] = row
        return out

    def status(self) -> dict[str, Any]:
        """The status file, with ``running`` turned into ``interrupted`` when its heartbeat
        is older than :data:`HEARTBEAT_STALE_S` or its process (on this host) is gone: a
        killed run cannot say that it stopped."""
        if not self.status_path.exists():
            return {"state": "new"}
        data: dict[str, Any] = read_json(self.status_path)
        if data.get("state") == "running" and (
            time.time() - float(data.get("heartbeat", 0)) > HEARTBEAT_STALE_S
            or (data.get("host") == socket.gethostname() and not _alive(int(data.get("pid", 0))))
        ):
            data["state"] = "interrupted"
        return data

    def write_status(self, **values: Any) -> None:
        current: dict[str, Any] = read_json(self.status_path) if self.status_path.exists() else {}
        for key in ("done", "errors"):  # per target, merged
            current[key] = {**current.get(key, {}), **values.pop(key, {})}
        current.update({"heartbeat": time.time(), "host": socket.gethostname(), **values})
        write_json(self.status_path, current)
