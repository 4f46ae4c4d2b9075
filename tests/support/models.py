"""Tiny random-weight models saved once per test session, loaded through the real path."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.tiny import build_encoder, build_guard


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_encoder(tmp_path_factory.mktemp("encoder"), max_length=64)


@pytest.fixture(scope="session")
def guard_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {
        "unsafe": build_guard(tmp_path_factory.mktemp("guard_unsafe"), first_token="unsafe"),
        "safe": build_guard(tmp_path_factory.mktemp("guard_safe"), first_token="safe"),
        "random": build_guard(tmp_path_factory.mktemp("guard_random")),
    }
