"""``assess run``: sample the banks, send every question, write each answer as it arrives.

A run directory is resumable: started again with the same banks, seed, sizes and targets, a
run reuses its plan and sends only the questions that have no answer yet (or whose last
attempt failed), so a killed run neither repeats nor loses an answer. Concurrency is bounded
by a fixed number of workers and the request rate by a pacer, so an assessment cannot
overload the service it measures.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gateway.assess.bank import BankItem, bank_files, read_banks
from gateway.assess.client import Endpoint, Target
from gateway.assess.coverage import check
from gateway.assess.rundir import RunDir
from gateway.assess.sampling import stratified_sample
from gateway.assess.standard import BANKS, BankName, standard

HEARTBEAT_S = 2.0
Progress = Callable[[str, int, int, bool], None]  # target, done, total, finished


class RunConflict(ValueError):
    """The run cannot go on: the output directory holds a different run, or an endpoint
    cannot be reached at all."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    banks: Sequence[Path]
    out: Path
    targets: Sequence[Target]
    seed: int = 0
    samples: dict[BankName, int] = field(default_factory=dict)  # default: the standard's
    concurrency: int = 8
    rate: float | None = None  # requests per second per target; None: no limit

    def sample_sizes(self) -> dict[BankName, int]:
        std = standard()
        return {b: self.samples.get(b, std.samplings[b].sample_min) for b in BANKS}


def bank_digest(items: Sequence[BankItem]) -> str:
    h = hashlib.sha256()
    for item in sorted(items, key=lambda i: i.id):
        h.update(orjson.dumps(item.to_json(), option=orjson.OPT_SORT_KEYS) + b"\n")
    return h.hexdigest()[:16]


def make_plan(items: Sequence[BankItem], sizes: dict[BankName, int], seed: int) -> list[BankItem]:
    plan: list[BankItem] = []
    for bank in BANKS:
        pool = [i for i in items if i.bank == bank]
        plan.extend(stratified_sample(pool, sizes[bank], seed))
    return plan


def _identity(config: RunConfig, digest: str) -> dict[str, Any]:
    """What must match for a directory to be resumed."""
    return {
        "seed": config.seed,
        "samples": config.sample_sizes(),
        "bank_digest": digest,
        "targets": {t.name: {"url": t.base_url, "model": t.model} for t in config.targets},
    }


def prepare(config: RunConfig) -> tuple[RunDir, list[BankItem]]:
    """Create the run directory with its plan, or check that it is this run and reuse it."""
    items = read_banks(config.banks)
    rd = RunDir(config.out)
    identity = _identity(config, bank_digest(items))
    if rd.exists():
        meta = rd.meta()
        old = {k: meta.get(k) for k in identity}
        old["targets"] = {n: {"url": t.get("url"), "model": t.get("model")}
                          for n, t in (meta.get("targets") or {}).items()}  # fmt: skip
        if old != orjson.loads(orjson.dumps(identity)):
            raise RunConflict(
                f"{config.out} holds a different run (banks, seed, sample sizes or targets "
                "differ); give another --out to start a new one"
            )
        return rd, rd.plan()
    plan = make_plan(items, config.sample_sizes(), config.seed)
    rd.path.mkdir(parents=True, exist_ok=True)
    rd.write_plan(plan)
    counts = {b: sum(1 for i in plan if i.bank == b) for b in BANKS}
    files = bank_files(config.banks)
    rd.write_meta({
        **identity,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "bank_files": [str(p) for p in files],
        "bank_coverage": check(items, files).to_json(),
        "bank_sizes": {b: sum(1 for i in items if i.bank == b) for b in BANKS},
        "plan_counts": counts,
        "targets": {t.name: t.public() for t in config.targets},
    })  # fmt: skip
    return rd, plan


class Pacer:
    """At most ``rate`` starts per second (None: unpaced)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
            if start > now:
                await asyncio.sleep(start - now)


async def service_info(session: aiohttp.ClientSession, target: Target) -> dict[str, Any]:
    """What the endpoint says about itself: a gateway's ``/readyz`` (policy and classifier)
    and ``/v1/models``. Either may be missing (a bare model server has no /readyz)."""
    root = target.base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    out: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds")}
    timeout = aiohttp.ClientTimeout(total=10)
    for key, url in (("readyz", root + "/readyz"), ("models", target.base_url + "/models")):
        try:
            async with session.get(url, headers=headers, timeout=timeout) as resp:
                if resp.status == 200:
                    out[key] = orjson.loads(await resp.read())
                else:
                    out.setdefault("problems", {})[key] = f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as e:
            out.setdefault("problems", {})[key] = f"{type(e).__name__}: {e}"[:300]
    return out


async def run_target(
    rd: RunDir, plan: Sequence[BankItem], target: Target, config: RunConfig,
    session: aiohttp.ClientSession, progress: Progress | None = None,
) -> dict[str, int]:  # fmt: skip
    """Send what ``target`` has not answered yet; returns answered / errors / total."""
    done = rd.results(target.name, repair=True)
    todo = [i for i in plan if i.id not in done or done[i.id].get("error")]
    answered = len(plan) - len(todo)
    errors = 0
    endpoint = Endpoint(target, session)
    pacer = Pacer(config.rate)
    queue = iter(todo)
    path = rd.results_path(target.name)
    last_beat = 0.0

    def beat(force: bool = False, final: bool = False) -> None:
        nonlocal last_beat
        now = time.monotonic()
        if force or now - last_beat >= HEARTBEAT_S:
            last_beat = now
            rd.write_status(state="running", target=target.name, pid=os.getpid(),
                            done={target.name: answered}, errors={target.name: errors})  # fmt: skip
            if progress is not None:
                progress(target.name, answered, len(plan), final)

    with path.open("ab") as f:

        async def worker() -> None:
            nonlocal answered, errors
            for item in queue:  # one shared iterator: each item goes to exactly one worker
                await pacer.wait()
                record = await endpoint.ask(item)
                f.write(orjson.dumps(record) + b"\n")
                f.flush()
                if record["error"]:
                    errors += 1
                else:
                    answered += 1
                beat()

        beat(force=True)
        await asyncio.gather(*(worker() for _ in range(max(1, config.concurrency))))
    beat(force=True, final=True)
    return {"answered": answered, "errors": errors, "total": len(plan)}


async def run(config: RunConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run every target in turn; the status file says how it ended."""
    rd, plan = prepare(config)
    summary: dict[str, Any] = {"dir": str(rd.path), "planned": len(plan), "targets": {}}
    rd.write_status(state="running", pid=os.getpid(), total=len(plan) * len(config.targets),
                    started=datetime.now(UTC).isoformat(timespec="seconds"))  # fmt: skip
    limits = aiohttp.TCPConnector(limit=max(1, config.concurrency) * 2)
    try:
        async with aiohttp.ClientSession(connector=limits) as session:
            for target in config.targets:
                start_info = await service_info(session, target)
                problem = str((start_info.get("problems") or {}).get("models", ""))
                if problem.startswith(("ClientConnectorError", "ServerDisconnectedError")):
                    # Nothing listens there: fail now, not after every question's retries.
                    raise RunConflict(f"cannot reach {target.base_url}: {problem}")
                counts = await run_target(rd, plan, target, config, session, progress)
                end_info = await service_info(session, target)
                meta = rd.meta()
                info = meta["targets"][target.name]
                info.setdefault("info_start", start_info)
                info["info_end"] = end_info
                rd.write_meta(meta)
                summary["targets"][target.name] = counts
    except BaseException:
        rd.write_status(state="interrupted")
        raise
    errors = sum(c["errors"] for c in summary["targets"].values())
    rd.write_status(state="complete" if not errors else "incomplete",
                    finished=datetime.now(UTC).isoformat(timespec="seconds"))  # fmt: skip
    return summary
