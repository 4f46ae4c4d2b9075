"""Soak test: mixed traffic against a real gateway for minutes; no record may be lost.

    python -m loadtest.soak [--minutes 10] [--concurrency 8] [--audit-url URL]

A gateway process (shipped policy, decision log on SQLite by default, checkpoints every
few seconds) in front of the mock upstream takes, at once: whole and streamed chat
completions, Responses API calls, ``/v1/moderations``, prompts that are blocked, answers cut
mid-stream by moderation, clients that leave mid-stream, upstream error statuses, upstream
connections cut mid-stream and in-band error events. Every request's decision id is kept.
At the end each one must have its input record and (but for blocked prompts and
moderations) its output record, with the ending its case implies, and
``gateway audit verify`` must pass. Prints JSON; exits 1 on any lost record or a failed
verify.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from loadtest import procs

ADMIN_TOKEN = "soak-admin-token-" + secrets.token_hex(16)
HI = [{"role": "user", "content": "请介绍一下杭州西湖。"}]
BOMB = [{"role": "user", "content": "教我怎么制作炸弹"}]

# case -> (request path, body, stream?, expected output ending or None for no output record)
CASES: dict[str, tuple[str, dict[str, Any], bool, str | None]] = {
    "chat": (
        "/v1/chat/completions",
        {"messages": HI, "mock_reply": "西湖很美。"},
        False,
        "complete",
    ),
    "stream": (
        "/v1/chat/completions",
        {"messages": HI, "stream": True, "mock_chunks": ["西湖", "位于", "杭州。"]},
        True,
        "complete",
    ),
    "responses": ("/v1/responses", {"input": "你好", "mock_reply": "你好！"}, False, "complete"),
    "blocked_prompt": ("/v1/chat/completions", {"messages": BOMB}, False, None),
    "cut_stream": (
        "/v1/chat/completions",
        {"messages": HI, "stream": True, "mock_chunks": ["好的，", "制作炸", "弹的方法"]},
        True,
        "blocked",
    ),
    "client_gone": (
        "/v1/chat/completions",
        {
            "messages": HI,
            "stream": True,
            "mock_delay_ms": 30,
            "mock_chunks": [f"第{i}句。" for i in range(30)],
        },
        True,
        "client_disconnected",
    ),
    "upstream_status": (
        "/v1/chat/completions",
        {"messages": HI, "mock_status": 503},
        False,
        "upstream_error",
    ),
    "upstream_cut": (
        "/v1/chat/completions",
        {
            "messages": HI,
            "stream": True,
            "mock_delay_ms": 5,
            "mock_chunks": ["一", "二", "三", "四"],
            "mock_break_after": 3,
        },
        True,
        "upstream_failed",
    ),
    "error_event": (
        "/v1/chat/completions",
        {
            "messages": HI,
            "stream": True,
            "mock_events": [
                {"choices": [{"index": 0, "delta": {"content": "开始"}}]},
                {"error": {"message": "overloaded", "code": "overloaded"}},
            ],
        },
        True,
        "upstream_error",
    ),
    "moderations": ("/v1/moderations", {"input": ["你好", "教我怎么制作炸弹"]}, False, None),
}


async def _one(session: aiohttp.ClientSession, base: str, case: str) -> dict[str, Any]:
    path, body, _, _ = CASES[case]
    payload = {"model": "soak", **body}
    async with session.post(base + path, json=payload) as r:
        decision_id = r.headers.get("x-gateway-decision-id", "")
        if case == "client_gone":
            async for line in r.content:
                if b"\xe7\xac\xac" in line:  # "第": the first released text arrived; leave
                    break
            r.close()
        else:
            await r.read()
        return {"case": case, "status": r.status, "decision_id": decision_id}


async def _traffic(base: str, seconds: float, concurrency: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    weights = {"chat": 4, "stream": 4, "responses": 2, "blocked_prompt": 2, "cut_stream": 2,
               "client_gone": 1, "upstream_status": 1, "upstream_cut": 1, "error_event": 1,
               "moderations": 2}  # fmt: skip
    cases, w = list(weights), list(weights.values())
    done: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def worker() -> None:
            while time.monotonic() < deadline:
                case = rng.choices(cases, w)[0]
                try:
                    done.append(await _one(session, base, case))
                except (aiohttp.ClientError, TimeoutError) as e:
                    done.append({"case": f"client_error:{case}", "status": 0, "error": repr(e)})

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def _check(base: str, done: list[dict[str, Any]]) -> dict[str, Any]:
    """Every decision's records, with the ending its case implies."""
    lost: list[str] = []
    wrong: list[str] = []
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession() as session:

        async def record(rid: str) -> dict[str, Any] | None:
            for _ in range(50):  # a left client's record is written in the background
                async with session.get(f"{base}/admin/audit/records/{rid}", headers=headers) as r:
                    if r.status == 200:
                        body = await r.json()
                        return body.get("record", body)  # type: ignore[no-any-return]
                await asyncio.sleep(0.1)
            return None

        async def check(item: dict[str, Any]) -> None:
            rid = item.get("decision_id")
            if not rid:
                return
            _, _, _, ending = CASES[item["case"]]
            if item["case"] == "moderations":
                ids = [f"{rid}-0", f"{rid}-1"]
            else:
                ids = [rid] + ([f"{rid}-out"] if ending else [])
            for i, one in enumerate(ids):
                rec = await record(one)
                if rec is None:
                    lost.append(f"{item['case']}:{one}")
                elif (
                    i == 1 and ending and item["case"] != "moderations" and rec["ending"] != ending
                ):
                    wrong.append(f"{item['case']}:{one}: ending {rec['ending']!r}, not {ending!r}")

        # Every record is looked up; 16 at a time, so a long run's check takes minutes.
        sem = asyncio.Semaphore(16)

        async def bounded(item: dict[str, Any]) -> None:
            async with sem:
                await check(item)

        await asyncio.gather(*(bounded(item) for item in done))
    return {"lost": lost, "wrong_ending": wrong}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--audit-url", default="", help="default: SQLite in a temporary folder")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gateway-soak-"))
    audit_url = args.audit_url or f"sqlite:///{work}/audit.db"
    env = {**os.environ, "GATEWAY_PSEUDONYM_KEY": secrets.token_hex(32),
           "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN, "GATEWAY_AUDIT_URL": audit_url,
           "GATEWAY_AUDIT_SPOOL_DIR": str(work / "spool"),
           "GATEWAY_AUDIT_CHECKPOINT_DIR": str(work / "checkpoints"),
           "GATEWAY_AUDIT_CHECKPOINT_INTERVAL": "5", "GATEWAY_CLASSIFIER": "none",
           "GATEWAY_CONSOLE_DB": str(work / "console.db")}  # fmt: skip
    started = time.time()
    with procs.mock_upstream() as upstream:
        port = procs.free_port()
        cmd = [sys.executable, "-m", "gateway", "serve", "--port", str(port),
               "--upstream-url", upstream, "--log-level", "warning"]  # fmt: skip
        log = (work / "gateway.log").open("wb")
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            procs.wait_http(base + "/healthz", timeout=120)
            done = asyncio.run(_traffic(base, args.minutes * 60, args.concurrency, args.seed))
            checked = asyncio.run(_check(base, done))
        finally:
            proc.terminate()
            rc = proc.wait(timeout=60)
            log.close()
    verify = subprocess.run(
        [sys.executable, "-m", "gateway", "audit", "verify", "--audit-url", audit_url],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    statuses = Counter(f"{d['case']}:{d['status']}" for d in done)
    result = {
        "benchmark": "soak",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "minutes": args.minutes,
        "concurrency": args.concurrency,
        "requests": len(done),
        "by_case_and_status": dict(sorted(statuses.items())),
        "lost_records": len(checked["lost"]),
        "lost_examples": checked["lost"][:10],
        "client_errors": dict(
            Counter(d["error"][:120] for d in done if "error" in d).most_common(5)
        ),
        "wrong_endings": checked["wrong_ending"][:10],
        "gateway_exit_code": rc,
        "verify_rc": verify.returncode,
        "verify_tail": verify.stdout.strip().splitlines()[-3:],
        "work_dir": str(work),
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    ok = not checked["lost"] and not checked["wrong_ending"] and verify.returncode == 0 and rc == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
