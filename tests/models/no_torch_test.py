"""torch stays out of gateway/ and out of ``import models`` (and the served classifiers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK_TORCH = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError(f"{name} is blocked in this test")
        return None
sys.meta_path.insert(0, _Block())
"""

IMPORT_ALL = """
import importlib, pkgutil
import gateway, models
names = [m.name for m in pkgutil.walk_packages(gateway.__path__, "gateway.")
         if not m.name.endswith("__main__")]  # __main__ runs the CLI
for name in names:
    importlib.import_module(name)
import models.serving
served = [m.name for m in pkgutil.walk_packages(models.serving.__path__, "models.serving.")]
assert len(served) >= 8, served  # really walked the served-classifier backends
for name in ("models.remote", "models.cache", "models.batcher", "models.shapes",
             "models.windows", "models.labels", "models.guard_parse", "models.local", *served):
    importlib.import_module(name)
assert "torch" not in sys.modules and "transformers" not in sys.modules
print(len(names))
"""


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gateway_and_light_models_modules_import_without_torch() -> None:
    proc = run(IMPORT_ALL)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) > 5  # really walked the gateway package


def test_the_blocker_really_blocks() -> None:
    proc = run("import models.encoder")
    assert proc.returncode != 0 and "blocked in this test" in proc.stderr
