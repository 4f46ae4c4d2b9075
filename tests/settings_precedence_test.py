"""Settings precedence is one rule: flags > environment > settings file > defaults, and
neither the command line nor the Makefile shadows the environment."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from gateway import cli
from gateway.settings import load_settings
from tests.support.models import encoder_dir  # noqa: F401
from tests.support.paths import ROOT


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text("host: 10.0.0.1\nport: 7000\nmax_body_bytes: 1234\n", "utf-8")
    return path


def test_file_beats_defaults(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_PORT", raising=False)
    monkeypatch.delenv("GATEWAY_HOST", raising=False)
    s = load_settings(config_file)
    assert (s.host, s.port, s.max_body_bytes) == ("10.0.0.1", 7000, 1234)
    assert load_settings(None).port == 8080  # the built-in default


def test_environment_beats_file(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "19080")
    s = load_settings(config_file)
    assert (s.host, s.port) == ("10.0.0.1", 19080)


def test_flags_beat_environment(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "19080")
    monkeypatch.setenv("GATEWAY_HOST", "127.0.0.2")
    s = load_settings(config_file, port=19090, host=None)  # an absent flag is no override
    assert (s.host, s.port) == ("127.0.0.2", 19090)


def test_serve_without_flags_listens_where_the_environment_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setenv("GATEWAY_PORT", "19080")
    monkeypatch.setenv("GATEWAY_HOST", "127.0.0.3")
    monkeypatch.setenv("GATEWAY_AUDIT_URL", f"sqlite:///{tmp_path}/audit.db")
    monkeypatch.setenv("GATEWAY_CONSOLE_DB", str(tmp_path / "console.db"))
    assert cli.main(["serve", "--dev"]) == 0
    assert (seen["host"], seen["port"]) == ("127.0.0.3", 19080)
    assert cli.main(["serve", "--dev", "--port", "19081"]) == 0
    assert seen["port"] == 19081


def test_make_run_passes_no_host_or_port_flag() -> None:
    out = subprocess.run(
        ["make", "-n", "-o", ".venv/bin/gateway", "run"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    [serve] = [line for line in out.splitlines() if "gateway serve" in line]
    assert "--port" not in serve and "--host" not in serve


def test_serve_flags_reach_the_batcher_and_the_cache(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    encoder_dir: Path,  # noqa: F811
) -> None:
    import uvicorn
    from starlette.testclient import TestClient

    built: dict[str, Any] = {}

    def run(app: Any, **kw: Any) -> None:
        with TestClient(app):  # runs the lifespan, which loads the classifier
            clf = app.state.gateway.pipeline.classifier
            built["limits"] = clf.batcher.limits
            built["cache_max"] = clf._cache._max
            built["redis_prefix"] = clf._cache._prefix

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setenv("GATEWAY_AUDIT_URL", "none")
    monkeypatch.setenv("GATEWAY_CONSOLE_DB", str(tmp_path / "console.db"))
    args = ["serve", "--dev", "--classifier", str(encoder_dir), "--set", "classifier_device=cpu",
            "--set", "classifier_max_queue=77", "--set", "classifier-max-batch=3",
            "--set", "classifier_workers=1", "--set", "classifier_cache_size=5",
            "--set", "redis_prefix=tenantA"]  # fmt: skip
    assert cli.main(args) == 0
    limits = built["limits"]
    assert (limits.max_queue, limits.max_batch, limits.workers) == (77, 3, 1)
    assert built["cache_max"] == 5
    assert built["redis_prefix"] == "tenantA:verdict:"


def test_an_unknown_set_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--dev", "--set", "classifer_max_queue=7"]) == 2
    assert "classifer_max_queue: no such setting" in capsys.readouterr().err


def test_config_show_names_sources_and_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "19080")
    monkeypatch.setenv("GATEWAY_PSEUDONYM_KEY", "p" * 40)
    monkeypatch.setenv("GATEWAY_AUDIT_URL", "postgresql://gw:hunter2@db:5432/log")
    assert cli.main(["config", "show", "--config", str(config_file), "--host", "10.9.9.9"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert lines["host"].endswith("10.9.9.9  (flag)")
    assert lines["port"].endswith("19080  (env)")
    assert lines["max_body_bytes"].endswith("1234  (file)")
    assert lines["upstream_url"].endswith("(default)")
    assert "pppp" not in out and lines["pseudonym_key"].split()[1] == "****"
    assert "hunter2" not in out and "db:5432/log" in lines["audit_url"]
