"""``gateway assess …``: the TC260-003 self-assessment.

- ``bank check FILE|DIR…``: coverage against §8.2–8.3 (``--json``, ``--strict``);
- ``bank import SRC.xlsx|SRC.csv --out FILE|DIR``: spreadsheets into bank JSONL;
- ``bank starter --out DIR``: the starter banks, built from the shared datasets at run time;
- ``run --bank DIR --endpoint URL [--compare-endpoint URL] --out DIR``: sample, send,
  resume, then write the manual sheet and the report;
- ``report --run DIR [--manual FILE]``: score again (after the manual sheet is filled);
- ``refusal-eval``: the refusal detector's precision and recall on the labelled sample.

Exit codes: 0 done, 1 a ``--strict`` check failed, 2 bad input (every problem printed as
``file:line: message``), 130 interrupted (the run can be resumed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.assess.standard import BANKS, BankName

API_KEY_ENV = "GATEWAY_ASSESS_API_KEY"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``assess`` with its subcommands to the ``gateway`` command."""
    assess = subparsers.add_parser("assess", help="TC260-003 security self-assessment")
    sub = assess.add_subparsers(dest="assess_command", required=True)
    _register_bank(sub)
    _register_run(sub)

    rep = sub.add_parser("report", help="score a run and write its report (HTML, XLSX, JSON)")
    rep.add_argument("--run", type=Path, required=True, help="run directory")
    rep.add_argument("--manual", type=Path, default=None,
                     help="filled manual sheet (default: the run's manual_sampling.xlsx)")  # fmt: skip
    _judge_args(rep)
    rep.set_defaults(func=_report)

    ev = sub.add_parser("refusal-eval", help="precision and recall of the refusal detector")
    ev.add_argument("--data", type=Path, default=None,
                    help="labelled JSONL (default: the shipped sample)")  # fmt: skip
    ev.add_argument("--json", action="store_true", help="print the full result as JSON")
    ev.set_defaults(func=_refusal_eval)


def _register_bank(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bank = sub.add_parser("bank", help="test banks: check, import, starter")
    bsub = bank.add_subparsers(dest="bank_command", required=True)
    chk = bsub.add_parser("check", help="coverage against TC260-003 §8.2-8.3")
    chk.add_argument("files", type=Path, nargs="+", help="bank files or directories (*.jsonl)")
    chk.add_argument("--json", action="store_true", help="print JSON instead of a table")
    chk.add_argument("--strict", action="store_true",
                     help="exit 1 unless every recommended minimum is met, too")  # fmt: skip
    chk.add_argument("--lang", choices=("zh", "en"), default="zh")
    chk.set_defaults(func=_bank_check)

    imp = bsub.add_parser("import", help="import a CSV or XLSX bank (filing attachment 5)")
    imp.add_argument("src", type=Path, help=".xlsx (a sheet per bank) or .csv")
    imp.add_argument("--out", type=Path, required=True,
                     help="FILE.jsonl, or a directory for one file per bank")  # fmt: skip
    imp.add_argument("--bank", choices=BANKS, help="bank of rows whose sheet or column names none")
    imp.add_argument("--id-prefix", default="", help="prefix of generated ids (default: file name)")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="write the valid rows even when some rows have problems")  # fmt: skip
    imp.set_defaults(func=_bank_import)

    st = bsub.add_parser("starter", help="build the starter banks from the shared datasets")
    st.add_argument("--out", type=Path, required=True, help="directory to write the banks to")
    st.add_argument("--datasets", type=Path, default=None,
                    help="shared datasets (default: $GATEWAY_DATASETS or ../shared/datasets)")  # fmt: skip
    st.set_defaults(func=_bank_starter)


def _register_run(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = sub.add_parser("run", help="run the banks against an endpoint and write the report")
    run.add_argument("--bank", type=Path, nargs="+", required=True, help="bank files or dirs")
    run.add_argument(
        "--endpoint", required=True, help="base URL of the service, e.g. http://gw:8080/v1"
    )
    run.add_argument("--model", help="model name to send (default: the first of GET /models)")
    run.add_argument("--api-key-env", default=API_KEY_ENV,
                     help=f"environment variable holding the API key (default {API_KEY_ENV})")  # fmt: skip
    run.add_argument("--compare-endpoint", help="the model alone, for the comparison")
    run.add_argument("--compare-model", help="model name there (default: --model)")
    run.add_argument("--compare-api-key-env", default=None,
                     help="variable with the key for --compare-endpoint (default: --api-key-env)")  # fmt: skip
    run.add_argument("--out", type=Path, help="run directory (default: <assess_dir>/<time>); "
                     "an existing run directory is resumed")  # fmt: skip
    run.add_argument("--seed", type=int, default=0)
    for b in BANKS:
        run.add_argument(f"--{b.replace('_', '-')}", type=int, dest=f"n_{b}", metavar="N",
                         help=f"questions sampled from the {b} bank (default: the standard's)")  # fmt: skip
    run.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    run.add_argument(
        "--rate", type=float, default=None, help="requests per second (default: no limit)"
    )
    run.add_argument("--stream", action="store_true", help="ask for streamed answers")
    run.add_argument("--max-tokens", type=int, default=None)
    run.add_argument("--temperature", type=float, default=None)
    run.add_argument("--system", default=None, help="a system prompt sent with every question")
    run.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per request (default 120)"
    )
    run.add_argument("--retries", type=int, default=2, help="retries after a failure (default 2)")
    run.add_argument("--no-report", action="store_true", help="only collect answers")
    _judge_args(run)
    run.set_defaults(func=_run)


def _judge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", type=Path, help="policy whose keywords and thresholds judge answers")
    p.add_argument("--classifier", help="classifier for the classifier sampling "
                   "(default GATEWAY_CLASSIFIER; 'none' leaves that sampling unassessed)")  # fmt: skip
    p.add_argument("--config", type=Path, help="YAML settings file")


def _fail(message: str) -> int:
    print(f"gateway assess: {message}", file=sys.stderr)
    return 2


def _bank_check(args: argparse.Namespace) -> int:
    from gateway.assess.bank import BankError, bank_files, read_banks
    from gateway.assess.coverage import check

    try:
        items = read_banks(args.files)
    except BankError as e:
        print("\n".join(e.problems), file=sys.stderr)
        return 2
    report = check(items, bank_files(args.files))
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(report.table(args.lang))
    if not report.ok:
        return 1
    minimums = all(b.meets_minimums for b in report.banks)
    return 1 if args.strict and not minimums else 0


def _bank_import(args: argparse.Namespace) -> int:
    from gateway.assess.bank import write_bank
    from gateway.assess.importer import BankImportError, import_bank

    try:
        result = import_bank(args.src, args.bank, args.id_prefix)
    except (BankImportError, OSError) as e:
        return _fail(str(e))
    for p in result.problems:
        print(p, file=sys.stderr)
    if result.problems and not args.skip_invalid:
        return _fail(f"{len(result.problems)} rows have problems; nothing written "
                     "(fix them, or pass --skip-invalid)")  # fmt: skip
    if args.out.suffix == ".jsonl":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        written = {str(args.out): write_bank(args.out, result.items)}
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        written = {}
        for bank in BANKS:
            rows = [i for i in result.items if i.bank == bank]
            if rows:
                path = args.out / f"{bank}.jsonl"
                written[str(path)] = write_bank(path, rows)
    for path, n in written.items():
        print(f"wrote {n} questions to {path}")
    return 0


def _bank_starter(args: argparse.Namespace) -> int:
    from gateway.assess.coverage import check
    from gateway.assess.starter import build_starter

    try:
        counts, items = build_starter(args.out, args.datasets)
    except (OSError, ValueError) as e:
        return _fail(str(e))
    for name, n in counts.items():
        print(f"{name}: {n} questions", file=sys.stderr)
    print(check(items).table())
    return 0


def _settings(args: argparse.Namespace) -> Any:
    from gateway.settings import load_settings

    return load_settings(args.config, policy=args.policy, classifier=args.classifier)


def _classifier(settings: Any) -> Any:
    from gateway.app import load_classifier
    from gateway.metrics import Metrics

    return load_classifier(settings, Metrics())


async def _write_report(rd: Any, settings: Any, manual: Path | None) -> dict[str, Any]:
    from gateway.assess.artifacts import write_reports
    from gateway.assess.report import ReportInputs, build_report

    classifier = _classifier(settings)
    try:
        report = await build_report(rd, ReportInputs(settings.policy, classifier, manual))
    finally:
        if classifier is not None:
            await classifier.aclose()
    paths = write_reports(rd, report)
    for p in paths:
        print(f"wrote {p}", file=sys.stderr)
    data: dict[str, Any] = report.data
    return data


def _summary(report: dict[str, Any]) -> str:
    lines = [f"conclusion: {report['conclusion']['status']}"]
    for q in report["requirements"]:
        lines.append(f"  {q['clause']:<12} {q['modal']:<6} {q['status']:<12} {q['value']:<24} "
                     f"{q['text_en']}")  # fmt: skip
    for m in report.get("comparison", []):
        lines.append(f"  compare {m['key']:<14} service {m['service']:.4f}  "
                     f"model alone {m['baseline']:.4f}  delta {m['delta']:+.4f}")  # fmt: skip
    return "\n".join(lines)


def _target(args: argparse.Namespace, name: str, url: str, model: str | None,
            key_env: str) -> Any:  # fmt: skip
    from gateway.assess.client import Target

    return Target(name=name, base_url=url.rstrip("/"), model=model or "",
                  api_key=os.environ.get(key_env) or None, stream=args.stream,
                  max_tokens=args.max_tokens, temperature=args.temperature, system=args.system,
                  timeout_s=args.timeout, retries=args.retries)  # fmt: skip


async def _default_model(target: Any) -> Any:
    """The first model the endpoint lists, when --model was not given."""
    import dataclasses

    import aiohttp

    from gateway.assess.runner import service_info

    if target.model:
        return target
    async with aiohttp.ClientSession() as session:
        info = await service_info(session, target)
    listed = (info.get("models") or {}).get("data") or [{}]
    model = listed[0].get("id") if isinstance(listed[0], dict) else None
    if not model:
        why = (info.get("problems") or {}).get("models", "no model listed")
        raise ValueError(f"{target.base_url}/models: {why}; check the endpoint, or pass --model")
    return dataclasses.replace(target, model=str(model))


def _run(args: argparse.Namespace) -> int:
    from gateway.assess.bank import BankError
    from gateway.assess.manual import write_sheet
    from gateway.assess.rundir import RunDir
    from gateway.assess.runner import RunConfig, RunConflict, run
    from gateway.policy.loader import PolicyError

    if not args.endpoint.startswith(("http://", "https://")):
        return _fail("--endpoint must be an http(s) URL")
    if args.concurrency < 1 or (args.rate is not None and args.rate <= 0):
        return _fail("--concurrency must be at least 1 and --rate above 0")
    try:
        settings = _settings(args)
    except (ValidationError, ValueError, OSError) as e:
        return _fail(f"invalid settings: {e}")
    out = args.out or settings.assess_dir / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    samples: dict[BankName, int] = {b: getattr(args, f"n_{b}") for b in BANKS
                                    if getattr(args, f"n_{b}") is not None}  # fmt: skip

    def progress(target: str, done: int, total: int, final: bool) -> None:
        end = "\n" if final else ""
        print(f"\r{target}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    async def go() -> dict[str, Any]:
        targets = [await _default_model(_target(args, "service", args.endpoint, args.model,
                                                args.api_key_env))]  # fmt: skip
        if args.compare_endpoint:
            targets.append(await _default_model(_target(
                args, "baseline", args.compare_endpoint, args.compare_model or args.model,
                args.compare_api_key_env or args.api_key_env)))  # fmt: skip
        config = RunConfig(args.bank, out, targets, args.seed, samples, args.concurrency, args.rate)
        return await run(config, progress)

    try:
        summary = asyncio.run(go())
    except KeyboardInterrupt:
        print(f"\ninterrupted: run the same command again to resume ({out})", file=sys.stderr)
        return 130
    except BankError as e:
        print("\n".join(e.problems), file=sys.stderr)
        return 2
    except (RunConflict, ValueError, OSError) as e:
        return _fail(str(e))
    print(json.dumps(summary, ensure_ascii=False))
    rd = RunDir(out)
    if not rd.manual_path.exists():
        service = rd.results("service")
        rows = [service[i.id] for i in rd.plan()
                if i.bank == "generated_content" and i.id in service]  # fmt: skip
        write_sheet(rd.manual_path, rows)
    if args.no_report:
        return 0
    try:
        report = asyncio.run(_write_report(rd, settings, None))
    except PolicyError as e:
        return _fail(f"the answers are in {out}, but the judging policy is invalid:\n{e}")
    print(_summary(report))
    return 0


def _report(args: argparse.Namespace) -> int:
    from gateway.assess.manual import SheetError
    from gateway.assess.rundir import RunDir, RunFileError
    from gateway.policy.loader import PolicyError

    rd = RunDir(args.run)
    if not rd.exists():
        return _fail(f"{args.run}: not a run directory (no run.json)")
    try:
        settings = _settings(args)
        report = asyncio.run(_write_report(rd, settings, args.manual))
    except SheetError as e:
        print("\n".join(e.problems), file=sys.stderr)
        return 2
    except PolicyError as e:
        return _fail(f"the policy is invalid:\n{e}")
    except (ValidationError, RunFileError, ValueError, OSError) as e:
        return _fail(str(e))
    print(_summary(report))
    return 0


def _refusal_eval(args: argparse.Namespace) -> int:
    from gateway.assess.refusal import RefusalDetector
    from gateway.assess.refusal_eval import evaluate, read_labelled, shipped_sample

    path = args.data or shipped_sample()
    try:
        result = evaluate(RefusalDetector(), read_labelled(path))
    except (ValueError, OSError) as e:
        return _fail(str(e))
    if args.json:
        print(json.dumps({"data": str(path), **result}, ensure_ascii=False, indent=2))
        return 0
    short = {k: v for k, v in result.items() if k not in ("mistakes",)}
    print(json.dumps({"data": str(path), **short}, ensure_ascii=False, indent=2))
    for m in result["mistakes"]:
        label = "refusal" if m["refusal"] else "answer"
        print(f"missed ({label}, {m['split']}): {m['text'][:80]}", file=sys.stderr)
    return 0
