"""The metric names the gateway exports, read from ``gateway/metrics.py`` without importing it.

The deploy checks run on machines that may not have the gateway's dependencies installed,
so the names come from the source's syntax tree: every ``Counter(...)``, ``Gauge(...)`` and
``Histogram(...)`` call whose first argument is a string literal. ``wire_names`` adds the
suffixes Prometheus puts on the wire, which are the names PromQL has to use.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
METRICS_PY = REPO_ROOT / "gateway" / "metrics.py"

_KINDS = frozenset({"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"})

# What prometheus_client exposes for each kind (text format 0.0.4). Counters are exposed
# as ``name_total`` (plus ``name_created``); a Summary as ``name``, ``_sum`` and ``_count``.
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
    "Info": ("_info",),
    "Enum": ("",),
}


def declared_metrics(source: str) -> dict[str, str]:
    """Map each declared metric's base name to its kind (``"Counter"``, ``"Histogram"`` ...)."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        first = node.args[0]
        if kind in _KINDS and isinstance(first, ast.Constant) and isinstance(first.value, str):
            found[first.value] = str(kind)
    return found


def wire_names(declared: dict[str, str]) -> frozenset[str]:
    """Every series name the declared metrics produce in the exposition format."""
    names: set[str] = set()
    for base, kind in declared.items():
        names.update(base + suffix for suffix in _SUFFIXES[kind])
    return frozenset(names)


def gateway_wire_names(metrics_py: Path = METRICS_PY) -> frozenset[str]:
    """The wire names of every metric in ``gateway/metrics.py``."""
    return wire_names(declared_metrics(metrics_py.read_text("utf-8")))
