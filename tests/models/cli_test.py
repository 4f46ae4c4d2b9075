"""``gateway classify`` through the subcommand the CLI owner registers."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest

from models import cli
from tests.support.models import encoder_dir  # noqa: F401


def test_classify_prints_one_json_line_per_text(
    encoder_dir: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="gateway")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["classify", str(encoder_dir), "你好", "hello", "--device", "cpu"])
    assert args.func(args) == 0
    lines = [orjson.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["text"] for x in lines] == ["你好", "hello"]
    assert all(set(x["scores"]) == {"A1.04", "A2.05", "A4.05"} for x in lines)
