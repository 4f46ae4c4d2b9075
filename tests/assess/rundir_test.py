"""The run directory's pure parts: the pacer's schedule, a partial last line left by a kill,
and how a dead run's status reads."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from gateway.assess import runner
from gateway.assess.rundir import HEARTBEAT_STALE_S, RunDir, RunFileError, write_json


def test_pacer_spaces_starts_at_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    starts: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        clock[0] += seconds

    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(runner.asyncio, "sleep", fake_sleep)

    async def go(rate: float | None) -> None:
        pacer = runner.Pacer(rate)
        for _ in range(5):
            await pacer.wait()
            starts.append(round(clock[0] - 100.0, 6))

    asyncio.run(go(10.0))
    assert starts == [0.0, 0.1, 0.2, 0.3, 0.4]
    starts.clear()
    asyncio.run(go(None))  # unpaced: no waiting at all
    assert starts == [0.4] * 5


def test_a_partial_last_line_is_ignored_and_cut_off(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    path = rd.results_path("service")
    full = json.dumps({"id": "a", "answer": "x"}) + "\n" + json.dumps({"id": "b", "answer": "y"})
    path.write_text(full + "\n" + '{"id": "c", "ans', "utf-8")
    assert set(rd.results("service")) == {"a", "b"}
    assert path.read_text("utf-8").endswith('{"id": "c", "ans')  # reading alone changes nothing
    assert set(rd.results("service", repair=True)) == {"a", "b"}
    assert path.read_text("utf-8") == full + "\n"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n', "utf-8")
    with pytest.raises(RunFileError, match=r"results.service.jsonl:2: damaged line"):
        rd.results("service")


def test_the_last_result_of_an_id_wins(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    lines = [{"id": "a", "error": "HTTP 503"}, {"id": "a", "error": None, "answer": "ok"}]
    rd.results_path("service").write_text("".join(json.dumps(x) + "\n" for x in lines), "utf-8")
    assert rd.results("service")["a"]["answer"] == "ok"


def test_status_of_a_run_that_stopped_without_saying_so(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    rd.write_status(state="running", pid=1 << 30, done={"service": 3})  # no such process
    assert rd.status()["state"] == "interrupted"
    rd.write_status(pid=0, host="another-host")  # another host's process: go by heartbeat
    assert rd.status()["state"] == "running"
    data = json.loads(rd.status_path.read_text("utf-8"))
    data["heartbeat"] = time.time() - HEARTBEAT_STALE_S - 1
    write_json(rd.status_path, data)
    assert rd.status()["state"] == "interrupted"
    rd.write_status(state="complete", done={"baseline": 5})
    assert rd.status()["done"] == {"service": 3, "baseline": 5}  # per target, merged
    assert RunDir(tmp_path / "nothing").status() == {"state": "new"}
