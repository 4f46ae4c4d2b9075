"""Nothing acknowledged is ever lost: SIGKILL a real server process under concurrent load,
restart it, and check that every request that got a response has its decision records.

Two servers, each a uvicorn process of its own:

- ``minimal``: ``tests/support/audit_server.py``, one record per request through ``AuditWriter``;
- ``gateway``: the real gateway app (``create_app``) with the log on its ``Recorder`` seam
  (``tests/support/audit_gateway_app.py``), proxying chat completions to a mock upstream process;
  every acknowledged request must have both its input and its output decision.

To aim it at another server (e.g. ``gateway serve`` once the app wires the log itself), set
``AUDIT_KILL_SERVER_CMD`` (with a ``{port}`` placeholder), ``AUDIT_KILL_PATH`` and
``AUDIT_KILL_BODY``; the log URL reaches the server as ``GATEWAY_AUDIT_URL`` and the spool
directory as ``GATEWAY_AUDIT_SPOOL_DIR``; ``X-Gateway-Decision-Id`` must match a record's
``id`` or ``request_id``. The server adds a 50 ms delay before each commit (a slow disk:
``AUDIT_SLOW_COMMIT_MS``), which makes a server that answers before committing fail here.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.audit import RecordFilter, open_store
from gateway.audit.store import iter_records
from tests.support import audit as fx
from tests.support.audit import verify

audit_url = fx.audit_url
ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
CONCURRENCY = 32
ACKS_BEFORE_KILL = 300
CHAT = '{"model": "mock", "messages": [{"role": "user", "content": "你好，介绍一下长城"}]}'


@dataclass(frozen=True)
class Target:
    cmd: str
    path: str
    body: str
    both_directions: bool  # every acknowledged request must have an input and an output record
    env: tuple[tuple[str, str], ...] = ()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60  # a busy CI box can be slow to import
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during start-up"
        try:
            if httpx.get(url, timeout=0.5).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture(scope="module")
def mock_upstream() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([PY, "-m", "loadtest.mock_upstream", "--port", str(port)], cwd=ROOT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/v1/models", proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(params=["minimal", "gateway"])
def target(request: pytest.FixtureRequest) -> Target:
    if "AUDIT_KILL_SERVER_CMD" in os.environ:
        return Target(
            os.environ["AUDIT_KILL_SERVER_CMD"], os.environ.get("AUDIT_KILL_PATH", "/v1/chat/completions"),
            os.environ.get("AUDIT_KILL_BODY", CHAT), both_directions=False,
        )  # fmt: skip
    uvicorn = f"{PY} -m uvicorn --host 127.0.0.1 --port {{port}} --log-level warning"
    if request.param == "minimal":
        return Target(f"{uvicorn} tests.support.audit_server:app", "/decide", '{"q": "hi"}', False)
    upstream = request.getfixturevalue("mock_upstream")
    return Target(
        f"{uvicorn} --factory tests.support.audit_gateway_app:build", "/v1/chat/completions", CHAT,
        both_directions=True, env=(("GATEWAY_UPSTREAM_URL", upstream),),
    )  # fmt: skip


class Server:
    def __init__(self, target: Target, audit_url: str, spool_dir: Path) -> None:
        self.port = _free_port()
        env = {
            **os.environ, **dict(target.env),
            "GATEWAY_AUDIT_URL": audit_url, "GATEWAY_AUDIT_SPOOL_DIR": str(spool_dir),
            "AUDIT_SPOOL_DIR": str(spool_dir), "AUDIT_SLOW_COMMIT_MS": "50",
            # Checkpoints every 200 ms, so the kills land between and during them.
            "GATEWAY_AUDIT_CHECKPOINT_DIR": str(spool_dir.parent / "checkpoints"),
            "GATEWAY_AUDIT_CHECKPOINT_INTERVAL": "0.2", "GATEWAY_PSEUDONYM_KEY": fx.PSEUDONYM_KEY,
        }  # fmt: skip
        cmd = shlex.split(target.cmd.format(port=self.port))
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        _wait_http(self.url + "/healthz", self.proc)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert self.proc.wait(20) in (0, -signal.SIGTERM)


async def load_until_killed(server: Server, target: Target) -> set[str]:
    """Concurrent clients post until the server dies; returns the acknowledged decision ids."""
    acked: set[str] = set()
    killed = asyncio.Event()

    async def client(http: httpx.AsyncClient) -> None:
        while True:
            try:
                resp = await http.post(target.path, content=target.body,
                                       headers={"content-type": "application/json"})  # fmt: skip
            except httpx.TransportError:
                if killed.is_set():
                    return
                continue
            assert resp.status_code == 200, resp.text
            acked.add(resp.headers["x-gateway-decision-id"])
            if len(acked) >= ACKS_BEFORE_KILL and not killed.is_set():
                killed.set()
                server.kill()  # mid-load: other requests are in flight right now

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=10) as http:
        await asyncio.wait_for(asyncio.gather(*(client(http) for _ in range(CONCURRENCY))), 90)
    return acked


async def _check_log(url: str, acked: set[str], target: Target, checkpoints: Path) -> None:
    store = open_store(url)
    try:
        found: dict[str, set[str]] = {}
        async for r in iter_records(store, RecordFilter()):
            for key in (r.id, r.request_id):
                found.setdefault(key, set()).add(r.direction)
        missing = [i for i in acked if i not in found]
        assert missing == [], f"{len(missing)} of {len(acked)} acknowledged requests have no record"
        if target.both_directions:
            partial = [i for i in acked if found[i] != {"input", "output"}]
            assert partial == [], f"{len(partial)} acknowledged requests lack a decision"
        # Every chain still reaches its last checkpoint: nothing checkpointed was lost.
        v = await verify(store, checkpoints)
        assert v.problems == [], v.problems
        assert await asyncio.to_thread(lambda: any(checkpoints.glob("*.checkpoints.jsonl")))
    finally:
        await store.close()


async def test_sigkill_under_load_loses_no_acknowledged_record(
    audit_url: str, target: Target, tmp_path: Path
) -> None:
    acked: set[str] = set()
    for _ in range(2):  # crash twice: chains of dead writers stay verifiable
        server = await asyncio.to_thread(Server, target, audit_url, tmp_path / "spool")
        acked |= await load_until_killed(server, target)
    assert len(acked) >= ACKS_BEFORE_KILL * 2
    server = await asyncio.to_thread(Server, target, audit_url, tmp_path / "spool")
    async with httpx.AsyncClient(base_url=server.url) as http:
        for _ in range(5):
            resp = await http.post(target.path, content=target.body)
            acked.add(resp.headers["x-gateway-decision-id"])
    await asyncio.to_thread(server.stop)
    await _check_log(audit_url, acked, target, tmp_path / "checkpoints")


async def test_sigkill_while_spooling_then_replay_on_restart(
    audit_url: str, target: Target, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    if audit_url.startswith("sqlite"):
        down = tmp_path / "down.db"
        down.mkdir()  # SQLite cannot open a directory: the store is "down"
        down_url = f"sqlite:///{down}"
    else:
        down_url = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    server = await asyncio.to_thread(Server, target, down_url, spool)
    acked = await load_until_killed(server, target)  # every ack came from the fsynced spool
    assert any(spool.glob("spool-*.jsonl"))

    server = await asyncio.to_thread(Server, target, audit_url, spool)
    if target.both_directions:  # this writer starts on first use: give it one request
        async with httpx.AsyncClient(base_url=server.url) as http:
            resp = await http.post(target.path, content=target.body)
            acked.add(resp.headers["x-gateway-decision-id"])
    await asyncio.to_thread(server.stop)
    assert not any(spool.glob("spool-*.jsonl"))  # replayed, then removed
    await _check_log(audit_url, acked, target, tmp_path / "checkpoints")
