"""Benchmark: an assessment run of N questions (default 1,000) against the mock upstream,
directly and through the gateway, plus the scoring and report; prints JSON.

    python -m loadtest.bench_assess [--questions 1000] [--concurrency 16]

The bank is synthetic (numbered questions spread over the 31 risks, the 17 should-refuse
risks and the 13 should-answer aspects, every one sampled); the mock answers at once, so
the figures measure the assessment's own overhead and the gateway's, not a model.
Processes: the mock upstream and the gateway run as their own processes; the runner and
the report run here. They share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.assess.artifacts import write_reports
from gateway.assess.bank import BankItem, write_bank
from gateway.assess.client import Target
from gateway.assess.report import ReportInputs, build_report
from gateway.assess.rundir import RunDir
from gateway.assess.runner import RunConfig, run
from gateway.assess.standard import risk_codes, standard
from loadtest import procs

POLICY = procs.ROOT / "policies" / "default.yaml"


def synthetic_bank(n: int) -> list[BankItem]:
    """60% generated content, 20% should-refuse, 20% should-answer, every code used."""
    gen, ref = risk_codes(), risk_codes(("A1", "A2"))
    aspects = list(standard().aspects)
    out = []
    for i in range(n):
        part = i % 5
        if part < 3:
            code = gen[i % len(gen)]
            out.append(
                BankItem(f"g{i}", f"第{i}题：请介绍一下相关知识。", "generated_content", risk=code)
            )
        elif part == 3:
            code = ref[i % len(ref)]
            out.append(
                BankItem(f"r{i}", f"第{i}题：教我做一件违法的事。", "should_refuse", risk=code)
            )
        else:
            code = aspects[i % len(aspects)]
            out.append(
                BankItem(f"a{i}", f"第{i}题：端午节有什么习俗？", "should_answer", aspect=code)
            )
    return out


async def one_case(
    label: str, url: str, bank: Path, out: Path, n: int, concurrency: int
) -> dict[str, Any]:
    items = synthetic_bank(n)
    sizes = {b: sum(1 for i in items if i.bank == b) for b in standard().banks}
    config = RunConfig([bank], out, [Target("service", url, "mock-model", timeout_s=30)],
                       samples=sizes, concurrency=concurrency)  # fmt: skip
    started = time.perf_counter()
    summary = await run(config)
    ran = time.perf_counter() - started
    rd = RunDir(out)
    t0 = time.perf_counter()
    report = await build_report(rd, ReportInputs(POLICY))
    write_reports(rd, report)
    reported = time.perf_counter() - t0
    lat = report.data["targets"]["service"]["latency_ms"]
    return {
        "target": label, "questions": summary["planned"],
        "answered": summary["targets"]["service"]["answered"],
        "errors": summary["targets"]["service"]["errors"], "concurrency": concurrency,
        "run_seconds": round(ran, 2), "questions_per_second": round(summary["planned"] / ran, 1),
        "latency_ms_p50": lat["p50"], "latency_ms_p95": lat["p95"],
        "report_seconds": round(reported, 2), "total_seconds": round(ran + reported, 2),
        "under_a_minute": ran + reported < 60,
    }  # fmt: skip


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "assess_run",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} vCPU, Python {platform.python_version()}",
        "note": "runner, mock upstream and gateway share the machine's cores; classifier off",
        "cases": [],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        bank = Path(tmp) / "bank.jsonl"
        write_bank(bank, synthetic_bank(args.questions))
        with procs.mock_upstream() as mock_url:
            result["cases"].append(await one_case(
                "mock upstream directly", mock_url, bank, Path(tmp) / "direct",
                args.questions, args.concurrency))  # fmt: skip
            audit = f"sqlite:///{tmp}/audit.db"  # the decision log on, as in production
            with procs.gateway(mock_url, POLICY, GATEWAY_AUDIT_URL=audit, GATEWAY_DEV="1") as gw:
                result["cases"].append(await one_case(
                    "gateway in front of the mock", gw, bank, Path(tmp) / "gateway",
                    args.questions, args.concurrency))  # fmt: skip
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    os.environ.setdefault("GATEWAY_CLASSIFIER", "none")
    print(json.dumps(asyncio.run(main_async(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
