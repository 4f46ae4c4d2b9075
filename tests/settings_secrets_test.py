"""Weak or missing secrets stop the gateway unless development mode is asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway import cli
from gateway.app import create_app
from gateway.settings import DEV_PSEUDONYM_KEY, InsecureSettings, Settings


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GATEWAY_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("GATEWAY_DEV", raising=False)
    monkeypatch.setenv("GATEWAY_AUDIT_URL", f"sqlite:///{tmp_path}/audit.db")


@pytest.mark.parametrize(
    "key", [None, "", "change-me", "x" * 31, DEV_PSEUDONYM_KEY, "replace-with-32-random-bytes-hex"]
)
def test_missing_or_weak_pseudonym_key_is_refused(key: str | None) -> None:
    settings = Settings(pseudonym_key=key)
    with pytest.raises(InsecureSettings, match="GATEWAY_PSEUDONYM_KEY"):
        create_app(settings)


def test_dev_mode_runs_on_the_built_in_key() -> None:
    settings = Settings(dev=True)
    create_app(settings)
    assert settings.pseudonym_secret() == DEV_PSEUDONYM_KEY


def test_a_strong_key_is_used_as_given() -> None:
    key = "k" * 40
    assert Settings(pseudonym_key=key).pseudonym_secret() == key


def test_serve_refuses_with_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "refusing to start" in err and "--dev" in err


@pytest.mark.parametrize(
    "token", ["a", " ", "short-token", " " + "t" * 40, "t" * 20 + " " + "t" * 20]
)
def test_weak_admin_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValidationError, match="admin_token"):
        Settings(admin_token=token, dev=True)


def test_a_long_admin_token_is_accepted() -> None:
    s = Settings(admin_token="t" * 32, dev=True)
    assert s.admin_token is not None and s.admin_token.get_secret_value() == "t" * 32
