"""Where the shared labeled data lives. It is read at run time and never copied into the
repository: ``$GATEWAY_DATASETS``, else ``shared/datasets`` beside the checkout, else
``/work/shared/datasets``."""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def shared_datasets() -> Path:
    env = os.environ.get("GATEWAY_DATASETS")
    if env:
        return Path(env)
    beside = _REPO.parent / "shared" / "datasets"
    return beside if beside.exists() else Path("/work/shared/datasets")
