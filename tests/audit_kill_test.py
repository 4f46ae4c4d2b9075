"""Nothing acknowledged is ever lost: SIGKILL a real server process under concurrent load,
restart it, and check that every request that got a response has its decision record.

The server under test is ``tests/audit_server.py`` by default. To run the same check
against the real gateway, set ``AUDIT_KILL_SERVER_CMD`` to its command line with a
``{port}`` placeholder (e.g. ``gateway serve --port {port}``, with its upstream pointing at
a mock) and ``AUDIT_KILL_PATH``/``AUDIT_KILL_BODY`` to a route that returns
``X-Gateway-Decision-Id``; the decision log URL reaches it as ``GATEWAY_AUDIT_URL``.
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
from pathlib import Path

import httpx

from gateway.audit import open_store
from tests import audit_fixtures as fx
from tests.audit_fixtures import verify

audit_url = fx.audit_url
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CMD = f"{sys.executable} -m uvicorn tests.audit_server:app --host 127.0.0.1 --port {{port}} --log-level warning"
PATH = os.environ.get("AUDIT_KILL_PATH", "/decide")
BODY = os.environ.get("AUDIT_KILL_BODY", '{"q": "hello"}')
CONCURRENCY = 32
ACKS_BEFORE_KILL = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, audit_url: str, spool_dir: Path) -> None:
        self.port = _free_port()
        cmd = os.environ.get("AUDIT_KILL_SERVER_CMD", DEFAULT_CMD).format(port=self.port)
        env = {**os.environ, "GATEWAY_AUDIT_URL": audit_url, "AUDIT_SPOOL_DIR": str(spool_dir),
               "GATEWAY_AUDIT_SPOOL_DIR": str(spool_dir), "AUDIT_SLOW_COMMIT_MS": "50"}  # fmt: skip
        self.proc = subprocess.Popen(shlex.split(cmd), cwd=ROOT, env=env, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60  # a busy CI box can be slow to import
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "server exited during start-up"
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("server did not start")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert self.proc.wait(20) in (0, -signal.SIGTERM)


async def load_until_killed(server: Server) -> set[str]:
    """Concurrent clients post until the server dies; returns the acknowledged decision ids."""
    acked: set[str] = set()
    killed = asyncio.Event()

    async def client(http: httpx.AsyncClient) -> None:
        while True:
            try:
                resp = await http.post(
                    PATH, content=BODY, headers={"content-type": "application/json"}
                )
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
        await asyncio.wait_for(asyncio.gather(*(client(http) for _ in range(CONCURRENCY))), 60)
    return acked


async def _check_log(url: str, acked: set[str]) -> None:
    store = open_store(url)
    try:
        missing = [i for i in acked if await store.get(i) is None]
        assert missing == [], f"{len(missing)} acknowledged records lost"
        v = await verify(store)
        assert v.problems == [], v.problems
    finally:
        await store.close()


async def test_sigkill_under_load_loses_no_acknowledged_record(
    audit_url: str, tmp_path: Path
) -> None:
    crashes = 2
    acked: set[str] = set()
    for _ in range(crashes):
        server = await asyncio.to_thread(Server, audit_url, tmp_path / "spool")
        acked |= await load_until_killed(server)
    assert len(acked) >= ACKS_BEFORE_KILL * crashes
    # Restart, serve a little more, stop cleanly: old chains stay verifiable next to the new one.
    server = await asyncio.to_thread(Server, audit_url, tmp_path / "spool")
    async with httpx.AsyncClient(base_url=server.url) as http:
        for _ in range(5):
            resp = await http.post(PATH, content=BODY)
            acked.add(resp.headers["x-gateway-decision-id"])
    await asyncio.to_thread(server.stop)
    await _check_log(audit_url, acked)


async def test_sigkill_while_spooling_then_replay_on_restart(
    audit_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    if audit_url.startswith("sqlite"):
        down = tmp_path / "down.db"
        down.mkdir()  # SQLite cannot open a directory: the store is "down"
        down_url = f"sqlite:///{down}"
    else:
        down_url = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    server = await asyncio.to_thread(Server, down_url, spool)
    acked = await load_until_killed(server)  # every ack came from the fsynced spool
    assert any(spool.glob("spool-*.jsonl"))

    server = await asyncio.to_thread(Server, audit_url, spool)  # store is up: replays the spool
    await asyncio.to_thread(server.stop)
    assert not any(spool.glob("spool-*.jsonl"))
    await _check_log(audit_url, acked)
