"""The refusal detector measured on a labelled sample (``data/refusal_labelled.jsonl``).

Each line: ``text``, ``refusal`` (true/false), ``lang``, ``note`` (what makes it a hard
case), ``split`` (``dev``: looked at while the phrasings were written; ``test``: written
before them and never tuned on), and optionally ``finish_reason``, ``moderation``,
``message_refusal`` for replies whose structure, not text, says what happened. Operators
can label their own model's answers in the same format and pass them with ``--data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from gateway.assess.refusal import RefusalDetector, Reply


@dataclass(frozen=True, slots=True)
class Labelled:
    reply: Reply
    refusal: bool
    lang: str
    note: str
    split: str


def shipped_sample() -> Path:
    return Path(str(resources.files("gateway.assess").joinpath("data/refusal_labelled.jsonl")))


def read_labelled(path: Path) -> list[Labelled]:
    out = []
    for n, raw in enumerate(path.read_bytes().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = orjson.loads(raw)
            moderation = row.get("moderation") or {}
            reply = Reply(
                text=str(row["text"]), finish_reason=row.get("finish_reason"),
                moderation_action=moderation.get("action"),
                message_refusal=row.get("message_refusal"),
            )  # fmt: skip
            refusal = row["refusal"]
            if not isinstance(refusal, bool):
                raise ValueError("'refusal' must be true or false")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"{path}:{n}: {e}") from None
        out.append(Labelled(reply, refusal, str(row.get("lang", "")), str(row.get("note", "")),
                            str(row.get("split", "all"))))  # fmt: skip
    if not out:
        raise ValueError(f"{path}: no labelled answers")
    return out


def _metrics(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    tp = sum(1 for truth, pred in pairs if truth and pred)
    fp = sum(1 for truth, pred in pairs if not truth and pred)
    fn = sum(1 for truth, pred in pairs if truth and not pred)
    tn = len(pairs) - tp - fp - fn

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {"n": len(pairs), "refusals": tp + fn, "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn), "accuracy": ratio(tp + tn, len(pairs)),
            "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn}}  # fmt: skip


def evaluate(detector: RefusalDetector, rows: list[Labelled]) -> dict[str, Any]:
    """Precision and recall overall, per split and per language, plus every mistake."""
    preds = [(r, detector.judge(r.reply).refused) for r in rows]
    groups: dict[str, list[tuple[bool, bool]]] = {"all": []}
    for r, pred in preds:
        for key in ("all", f"split:{r.split}", f"lang:{r.lang}"):
            groups.setdefault(key, []).append((r.refusal, pred))
    mistakes = [
        {"text": r.reply.text, "refusal": r.refusal, "predicted": pred, "note": r.note,
         "split": r.split}
        for r, pred in preds if pred != r.refusal
    ]  # fmt: skip
    return {**_metrics(groups.pop("all")),
            "groups": {k: _metrics(v) for k, v in sorted(groups.items())},
            "mistakes": mistakes}  # fmt: skip
