"""Map a model's label names to taxonomy codes.

Convention shared with the training recipe: ``id2label`` values are taxonomy codes
(``"A1.04"``) or ``"safe"``/``"benign"`` (ignored). A ``label_map.json`` next to the model
maps any other label name to a code, a list of codes, or ``null`` (ignore).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from gateway.taxonomy import is_code

LABEL_MAP_FILE = "label_map.json"
IGNORED_LABELS = frozenset({"safe", "benign", "none", "ok", "neutral"})


class LabelMappingError(ValueError):
    """A label has no taxonomy code and is not one of the ignored names."""


def load_label_map(model_dir: Path) -> dict[str, tuple[str, ...]]:
    """The optional ``label_map.json`` of a model directory, codes validated."""
    path = model_dir / LABEL_MAP_FILE
    return load_label_map_file(path) if path.is_file() else {}


def load_label_map_file(path: Path) -> dict[str, tuple[str, ...]]:
    """A label map file (``{"label": "A1.04" | ["A1.04", ...] | null}``), codes validated.
    Used for model directories and for classifiers on serving engines (``?label_map=``)."""
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise LabelMappingError(f"{path}: cannot read a label map: {exc}") from exc
    if not isinstance(raw, dict):
        raise LabelMappingError(f"{path}: must be a JSON object of label -> code(s)")
    out: dict[str, tuple[str, ...]] = {}
    for label, target in raw.items():
        targets = () if target is None else (target,) if isinstance(target, str) else target
        if not isinstance(targets, list | tuple) or not all(isinstance(c, str) for c in targets):
            raise LabelMappingError(f"{path}: {label!r} must map to a code, a list, or null")
        bad = [c for c in targets if not is_code(c)]
        if bad:
            raise LabelMappingError(f"{path}: {label!r} maps to unknown codes {bad}")
        out[str(label)] = tuple(targets)
    return out


def codes_for(label: str, label_map: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The taxonomy codes one label stands for (empty for a benign label)."""
    if label in label_map:
        return label_map[label]
    if is_code(label):
        return (label,)
    if label.strip().lower() in IGNORED_LABELS:
        return ()
    raise LabelMappingError(
        f"label {label!r} is neither a taxonomy code nor an ignored name; map it in "
        f"{LABEL_MAP_FILE} (a served model: the file named by ?label_map=)"
    )


def index_to_codes(
    id2label: Mapping[int, str], label_map: Mapping[str, tuple[str, ...]]
) -> list[tuple[int, str]]:
    """(output index, code) pairs for every output that scores a category."""
    return [(int(i), code) for i, label in id2label.items() for code in codes_for(label, label_map)]
