"""The ``gateway`` command: ``serve``, ``policy check``, and the subcommands of each area."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.policy.loader import PolicyError
    from gateway.settings import InsecureSettings, load_settings

    try:
        settings = load_settings(args.config, **_serve_overrides(args))
        settings.check_secrets()
    except InsecureSettings as e:
        print(f"gateway: refusing to start: {e}", file=sys.stderr)
        return 2
    except (ValidationError, ValueError, OSError) as e:
        print(f"gateway: invalid settings:\n{e}", file=sys.stderr)
        return 2
    if settings.dev:
        print("gateway: development mode (--dev): built-in secrets, not for production",
              file=sys.stderr)  # fmt: skip
    print(f"gateway: decision log {describe_audit_url(settings.audit_url)}", file=sys.stderr)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.workers > 1:
        return _serve_workers(args, settings)
    # uvicorn drains, then re-raises the SIGTERM it caught with the handler that was there
    # before it: with Python's default, the process would die of the signal (exit 143)
    # after a clean shutdown. A no-op handler lets it return, and the process exits 0.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        app = create_app(settings)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=args.log_level,
            access_log=False,
            timeout_graceful_shutdown=30,
            lifespan="on",
        )
    except PolicyError as e:
        print(f"gateway: the policy is invalid:\n{e}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _serve_overrides(args: argparse.Namespace) -> dict[str, object]:
    """What ``serve``'s flags set; a flag left out sets nothing (the environment stands)."""
    from gateway.settings import parse_assignments

    return {
        "host": args.host, "port": args.port, "policy": args.policy,
        "upstream_url": args.upstream_url, "classifier": args.classifier,
        "dev": True if args.dev else None, **parse_assignments(args.set),
    }  # fmt: skip


def _config_show(args: argparse.Namespace) -> int:
    from gateway.settings import explain_settings

    try:
        rows = explain_settings(args.config, **_serve_overrides(args))
    except (ValidationError, ValueError, OSError) as e:
        print(f"gateway config: {e}", file=sys.stderr)
        return 2
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        print(f"{name:<{width}}  {value}  ({source})")
    return 0


def _serve_workers(args: argparse.Namespace, settings: object) -> int:
    """Several worker processes: each builds the app from the environment, and metrics
    go through prometheus_client's multiprocess files so /metrics sums all workers."""
    import os
    import tempfile

    import uvicorn

    # Each worker builds its settings from the environment: flags travel as GATEWAY_*.
    flags = {f"GATEWAY_{k.upper()}": v for k, v in _serve_overrides(args).items()}
    flags["GATEWAY_CONFIG"] = args.config
    for name, value in flags.items():
        if value is not None:
            os.environ[name] = "1" if value is True else str(value)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gateway-metrics-")
    from gateway.settings import Settings

    assert isinstance(settings, Settings)
    uvicorn.run(
        "gateway.app:app_from_env", factory=True, workers=args.workers,
        host=settings.host, port=settings.port, log_level=args.log_level,
        access_log=False, timeout_graceful_shutdown=30,
    )  # fmt: skip
    return 0


def describe_audit_url(url: str) -> str:
    """The decision log's location for humans: a relative SQLite path is resolved against
    the working directory, which is where the file will be."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        return f"sqlite {Path(url[len(prefix) :]).resolve()}"
    scheme = url.split("://", 1)[0]
    return f"{scheme} (credentials not shown)"


def _policy_check(args: argparse.Namespace) -> int:
    from gateway.policy.check import check_policy

    failed = False
    for f in args.files:
        active, problems = check_policy(Path(f))
        if active is None:
            failed = True
            for p in problems:
                print(p)
            print(f"{f}: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
            continue
        tenants = f", {len(active.tenants)} tenants" if active.tenants else ""
        print(f"{f}: ok (version {active.version}, {len(active.base.matcher)} terms{tenants})")
    return 1 if failed else 0


def _policy_schema(args: argparse.Namespace) -> int:
    from gateway.policy.model import Policy

    schema = Policy.model_json_schema()
    text = json.dumps(schema, ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", "utf-8")
    else:
        print(text)
    return 0


def _hash_key(args: argparse.Namespace) -> int:
    import secrets

    from gateway.policy.compiled import hash_key

    key = args.key or "gw-" + secrets.token_urlsafe(32)
    if not args.key:
        print(f"key:    {key}   (give this to the tenant; it is not stored anywhere)")
    print(f"sha256: {hash_key(key)}   (put this under tenants.<name>.api_keys_sha256)")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import asyncio

    from gateway.app import load_classifier
    from gateway.decision import Action
    from gateway.metrics import Metrics
    from gateway.moderation.cascade import Cascade
    from gateway.moderation.evaluate import EvalDataError, evaluate_file
    from gateway.moderation.pipeline import Pipeline
    from gateway.policy.compiled import load_policy_set
    from gateway.policy.loader import PolicyError
    from gateway.settings import load_settings

    try:
        settings = load_settings(args.config, policy=args.policy, classifier=args.classifier)
        policies = load_policy_set(settings.policy)
        positive = [Action(a) for a in args.positive.split(",")]
    except (ValidationError, ValueError, OSError) as e:
        print(f"gateway eval: {e}", file=sys.stderr)
        return 2
    except PolicyError as e:
        print(f"gateway eval: the policy is invalid:\n{e}", file=sys.stderr)
        return 2
    metrics = Metrics()
    classifier = None
    if args.mode != "keywords":
        classifier = load_classifier(settings, metrics)
        if classifier is None:
            print("gateway eval: --mode needs a classifier (--classifier or GATEWAY_CLASSIFIER)",
                  file=sys.stderr)  # fmt: skip
            return 2
    # The policy's cascade, when GATEWAY_CLASSIFIER_SECOND names its second stage.
    second = load_classifier(settings, metrics, second=True) if classifier is not None else None
    cascade = Cascade(classifier, second, metrics) if classifier and second else None
    pipeline = Pipeline(lambda: policies, metrics, classifier, cascade)

    async def run() -> dict[str, object]:
        try:
            return await evaluate_file(pipeline, Path(args.data), args.mode, positive)
        finally:
            for clf in (classifier, second):
                if clf is not None:
                    await clf.aclose()

    try:
        result = asyncio.run(run())
    except (EvalDataError, OSError) as e:
        print(f"gateway eval: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--policy", type=Path, help="policy file (default policies/default.yaml)")
    serve.add_argument("--upstream-url", help="upstream base URL, e.g. http://127.0.0.1:8000/v1")
    serve.add_argument("--config", type=Path, help="YAML settings file")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    _settings_flags(serve)
    serve.add_argument("--dev", action="store_true",
                       help="development mode: allow the built-in pseudonym key (not for production)")  # fmt: skip
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])  # fmt: skip
    serve.set_defaults(func=_serve)

    config = sub.add_parser("config", help="the effective settings")
    csub = config.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="every setting, its value and where it came from "
                                        "(flag, env, file, default); secrets masked")  # fmt: skip
    show.add_argument("--config", type=Path, help="YAML settings file")
    for flag in ("--host", "--policy", "--upstream-url"):
        show.add_argument(flag)
    show.add_argument("--port", type=int)
    show.add_argument("--dev", action="store_true")
    _settings_flags(show)
    show.set_defaults(func=_config_show)

    policy = sub.add_parser("policy", help="check policy files")
    psub = policy.add_subparsers(dest="policy_command", required=True)
    check = psub.add_parser("check", help="validate policy files; print file:line: problems")
    check.add_argument("files", nargs="+")
    check.set_defaults(func=_policy_check)
    schema = psub.add_parser("schema", help="print the policy JSON Schema (for editors)")
    schema.add_argument("--out", help="write to this file instead of stdout")
    schema.set_defaults(func=_policy_schema)
    hk = psub.add_parser("hash-key", help="hash a tenant API key (or make a new one)")
    hk.add_argument("key", nargs="?", help="the key; omitted: generate a new random key")
    hk.set_defaults(func=_hash_key)

    ev = sub.add_parser("eval", help="run the pipeline over a labeled JSONL file; print metrics")
    ev.add_argument("--data", required=True, help="JSONL: text, label (0|1), categories, direction")
    ev.add_argument("--mode", choices=["full", "keywords", "classifier"], default="full",
                    help="full pipeline, keywords and patterns only, or classifier only")  # fmt: skip
    ev.add_argument("--policy", type=Path)
    ev.add_argument("--classifier", help="model directory or URL (default: GATEWAY_CLASSIFIER)")
    ev.add_argument("--positive", default="block,review",
                    help="actions that count as 'unsafe' (comma-separated)")  # fmt: skip
    ev.add_argument("--config", type=Path)
    ev.set_defaults(func=_eval)

    _register_optional(sub)
    return parser


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--classifier", help="model directory, URL, hub id, auto or none")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="any setting, e.g. --set classifier_max_queue=4096 (repeatable)")  # fmt: skip


def _register_optional(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Subcommands owned by other packages register themselves here (none imports torch)."""
    import importlib

    for module in (
        "gateway.lexicon.cli",
        "gateway.audit.cli",
        "gateway.reports.cli",
        "gateway.console.cli",
        "gateway.assess.cli",
        "models.cli",
        "models.training.cli",
    ):
        importlib.import_module(module).register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
