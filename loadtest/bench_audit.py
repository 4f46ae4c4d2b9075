"""Decision-log throughput and write latency under concurrent writers; prints JSON.

Side by side, in one process, for each backend:

- ``sqlite``: WAL, ``synchronous=full`` (an fsync per commit: the default);
- ``sqlite-normal``: WAL, ``synchronous=normal`` (survives a process crash, not a host crash);
- ``postgresql``: psycopg 3 async against a local server, one chain per writer.

Each case runs N callers (``--concurrency``, a list) that each ``await
AuditWriter.write(record)`` in a closed loop until ``--records`` are written (records are
built beforehand, so the log alone is measured; concurrency 1 writes a tenth as many).
``records_per_s`` is what the log sustains; ``write_ms`` is the latency a write adds to a
response (queueing + group commit). Concurrency 1 is the floor: every write is its own
commit. With N closed-loop callers a commit can hold at most N records, so the fsync per
commit bounds throughput at about N / commit time; more concurrent requests mean bigger
commits, which is why the higher concurrencies scale.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from gateway.audit import AuditWriter, DecisionRecord, open_store
from gateway.audit.keys import AuditKeys
from gateway.audit.postgres_store import split_url

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
KEYS = AuditKeys.from_secret("bench-audit-secret-not-for-production-0123456789")


def make_records(n: int) -> list[DecisionRecord]:
    now = datetime.now(UTC)
    return [
        DecisionRecord(
            id=uuid.uuid4().hex,
            ts=now,
            direction="input",
            action="block" if i % 10 == 0 else "allow",
            tenant="bench",
            user="ab" * 16,
            request_id=f"req-{i}",
            route="/v1/chat/completions",
            categories=("A1.04",) if i % 10 == 0 else (),
            scores={"A1.04": 0.91, "A2.01": 0.02},
            matched_terms=("炸弹",) if i % 10 == 0 else (),
            policy_version="p" * 12,
            model_version="minilm-bf16",
            latency_ms={"lexicon": 0.05, "classifier": 3.2},
            text_mode="hash",
            text="hmac-sha256:" + "0" * 64,
        )
        for i in range(n)
    ]


async def run_case(url: str, concurrency: int, total: int, spool: Path) -> dict[str, Any]:
    store = open_store(url)
    writer = AuditWriter(store, keys=KEYS, spool_dir=spool)
    await writer.start()
    before = await store.count()
    for r in make_records(200):  # warm-up: connections, schema, page cache
        await writer.write(r)
    records = make_records(total)
    latencies: list[float] = []
    it = iter(records)
    batches0 = writer.batches

    async def caller() -> None:
        for r in it:
            t = time.perf_counter()
            await writer.write(r)
            latencies.append(time.perf_counter() - t)

    start, cpu_start = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    batches = writer.batches - batches0
    await writer.close()
    assert await store.count() == before + total + 200, "records missing"
    await store.close()
    q = statistics.quantiles(latencies, n=100)
    return {
        "concurrency": concurrency,
        "records": total,
        "seconds": round(elapsed, 3),
        "records_per_s": round(total / elapsed),
        "write_ms": {
            "p50": round(q[49] * 1e3, 3),
            "p99": round(q[98] * 1e3, 3),
            "max": round(max(latencies) * 1e3, 3),
        },
        # CPU of this process (all threads) per record: unlike records/s, it does not
        # depend on what else the machine is running.
        "cpu_us_per_record": round(cpu / total * 1e6, 1),
        "commits": batches,
        "records_per_commit": round(total / batches, 1),
    }


def backend_urls(names: list[str], workdir: Path, pg: str) -> dict[str, tuple[str, str | None]]:
    urls: dict[str, tuple[str, str | None]] = {}
    for name in names:
        if name == "sqlite":
            urls[name] = (f"sqlite:///{workdir / 'full.db'}", None)
        elif name == "sqlite-normal":
            urls[name] = (f"sqlite:///{workdir / 'normal.db'}?synchronous=normal", None)
        elif name == "postgresql":
            schema = f"audit_bench_{uuid.uuid4().hex[:8]}"
            urls[name] = (f"{pg}?schema={schema}", schema)
        else:
            raise SystemExit(f"unknown backend {name!r}")
    return urls


async def main(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-audit-", dir=args.workdir))
    load_before = round(os.getloadavg()[0], 2)  # the machine is shared: say how busy it was
    results: dict[str, Any] = {}
    try:
        for name, (url, schema) in backend_urls(
            args.backends.split(","), workdir, args.pg_url
        ).items():
            cases = []
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                total = args.records if concurrency > 1 else args.records // 10
                cases.append(await run_case(url, concurrency, total, workdir / f"spool-{name}"))
            results[name] = cases
            if schema:
                with psycopg.connect(split_url(url)[0], autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "bench": "audit",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "load_avg_1m_before_after": [load_before, round(os.getloadavg()[0], 2)],
        },
        "results": results,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--records", type=int, default=20_000)
    p.add_argument("--concurrency", default="1,64,256", help="comma-separated caller counts")
    p.add_argument("--backends", default="sqlite,sqlite-normal,postgresql")
    p.add_argument("--pg-url", default=PG_DEFAULT)
    p.add_argument(
        "--workdir", default=None, help="where the SQLite files go (default: system temp)"
    )
    return p.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse_args())), indent=2, ensure_ascii=False))
