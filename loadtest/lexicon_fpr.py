"""False-positive rate of a keyword library on benign Chinese text; prints JSON.

Benign text: the label-0 rows of COLD (train + dev) and SWSR, and the CValues
responsibility prompts (sensitive but legitimate questions). The data is read at run time
from ``--datasets`` (default ``/work/shared/datasets``) and never copied.

    python loadtest/lexicon_fpr.py                       # the shipped starter library
    python loadtest/lexicon_fpr.py --lexicon my/terms.csv --no-variants --examples 20

A text counts as a false positive when any term fires on it (levels are reported
separately, since a policy may only block at level >= 2).

Answers are reported on their own (``answers``): a level-3 hit applies the category's
action, which under the default policy stops a streamed answer mid-sentence, so the
share of benign answers with a level-3 hit is the share the keywords alone would cut off.
Benign: JADE-DB v3's safe answers, the project's written benign answers
(``models/training/data``) and the streaming test's bank; harmful: JADE-DB v3's unsafe
answers.

For scale, ``risky_hit_rate`` is the share of risky prompts (JADE-DB v2 zh, MultiJail zh
and en) on which any term fires. A keyword library is a cheap first filter for explicit
requests; most risky prompts are phrased without any keyword, which is what the
classifier is for.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from gateway.lexicon import Matcher, VariantConfig, load_library
from models.training.paths import shared_datasets

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = shared_datasets()


def _csv_rows(path: Path, text_col: str) -> Iterator[str]:
    csv.field_size_limit(1 << 24)
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("label", "").strip() == "0":
                yield row[text_col]


def benign_sources(root: Path) -> dict[str, list[str]]:
    """Benign texts per source; a missing file is an error, not a silent skip."""
    cold = root / "COLD" / "COLDataset"
    sources = {
        "COLD label 0 (train+dev)": [
            *_csv_rows(cold / "train.csv", "TEXT"),
            *_csv_rows(cold / "dev.csv", "TEXT"),
        ],
        "SWSR label 0": list(_csv_rows(root / "SWSR" / "SWSR" / "SexComment.csv", "comment_text")),
        "CValues responsibility prompts": [
            json.loads(line)["prompt"]
            for line in (root / "CValues" / "dataset" / "cvalues_responsibility_prompts.jsonl")
            .read_text("utf-8")
            .splitlines()
            if line.strip()
        ],
    }
    return sources


def risky_sources(root: Path) -> dict[str, list[str]]:
    """Risky prompts; every row counts (these sets hold no benign rows)."""
    jade = root / "JADE-DB" / "jade-db-v2.0"
    sources: dict[str, list[str]] = {}
    rows: list[str] = []
    for name in ("jade_benchmark_easy_zh.csv", "jade_benchmark_medium_zh.csv"):
        with (jade / name).open(encoding="utf-8-sig", newline="") as f:
            rows += [r["问题"] for r in csv.DictReader(f)]
    sources["JADE-DB v2 zh"] = rows
    with (root / "MultiJail" / "data" / "MultiJail.csv").open(
        encoding="utf-8-sig", newline=""
    ) as f:
        multi = list(csv.DictReader(f))
    sources["MultiJail zh"] = [r["zh"] for r in multi]
    sources["MultiJail en"] = [r["en"] for r in multi]
    return sources


def answer_sources(root: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(benign, harmful) answers per source."""
    from models.training.sources import jade  # reads the GBK-encoded v3 files

    v3 = jade(root)
    safe = [r.text for r in v3 if r.source == "JADE-v3-safe"]
    unsafe = [r.text for r in v3 if r.source == "JADE-v3-unsafe"]
    written: list[str] = []
    for path in sorted((ROOT / "models" / "training" / "data").glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            if row.get("direction") == "out" and not row.get("codes"):
                written.append(row["text"])
    bank = ROOT / "tests" / "fixtures" / "benign_stream_answers.jsonl"
    benign = {
        "JADE-DB v3 safe answers": safe,
        "project benign answers": written,
        "stream bank": [json.loads(line)["text"] for line in bank.read_text("utf-8").splitlines()],
    }
    return benign, {"JADE-DB v3 unsafe answers": unsafe}


def level3_rates(
    matcher: Matcher, sources: dict[str, list[str]], examples: int
) -> dict[str, object]:
    """Per source: texts with a level-3 hit (those the default policy cuts off), and which
    terms fired."""
    out: dict[str, object] = {}
    for name, texts in sources.items():
        terms: Counter[str] = Counter()
        shown: list[dict[str, str]] = []
        hit = 0
        for text in texts:
            top = [h for h in matcher.scan(text) if h.level >= 3]
            if not top:
                continue
            hit += 1
            terms.update({h.term for h in top})
            if len(shown) < examples:
                h = top[0]
                shown.append({"term": h.term, "text": text[max(0, h.start - 40) : h.end + 40]})
        out[name] = {
            "texts": len(texts),
            "level3": hit,
            "rate": round(hit / max(1, len(texts)), 5),
            "terms": terms.most_common(10),
            "examples": shown,
        }
    return out


def hit_rates(matcher: Matcher, sources: dict[str, list[str]]) -> dict[str, object]:
    return {
        name: {
            "texts": len(texts),
            "hit_rate": round(sum(1 for t in texts if matcher.scan(t)) / max(1, len(texts)), 4),
        }
        for name, texts in sources.items()
    }


def machine() -> str:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    return f"{cpu} ({platform.machine()}), Python {platform.python_version()}"


def measure(matcher: Matcher, sources: dict[str, list[str]], examples: int) -> dict[str, object]:
    per_source: dict[str, object] = {}
    total = flagged = flagged_l2 = 0
    terms: Counter[str] = Counter()
    shown: list[dict[str, str]] = []
    for name, texts in sources.items():
        hit_texts = hit_texts_l2 = 0
        for text in texts:
            hits = matcher.scan(text)
            if not hits:
                continue
            hit_texts += 1
            hit_texts_l2 += any(h.level >= 2 for h in hits)
            terms.update({h.term for h in hits})
            if len(shown) < examples:
                shown.append({"term": hits[0].term, "text": text[:120]})
        total += len(texts)
        flagged += hit_texts
        flagged_l2 += hit_texts_l2
        per_source[name] = {
            "texts": len(texts),
            "flagged": hit_texts,
            "fpr": round(hit_texts / max(1, len(texts)), 5),
            "flagged_level2plus": hit_texts_l2,
            "fpr_level2plus": round(hit_texts_l2 / max(1, len(texts)), 5),
        }
    return {
        "texts": total,
        "flagged": flagged,
        "fpr": round(flagged / max(1, total), 5),
        "fpr_level2plus": round(flagged_l2 / max(1, total), 5),
        "per_source": per_source,
        "top_terms": terms.most_common(20),
        "examples": shown,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument(
        "--lexicon",
        type=Path,
        nargs="+",
        default=[ROOT / "policies" / "lexicon"],
        help="term files, allow lists or directories (default: the starter library)",
    )
    parser.add_argument("--no-variants", action="store_true", help="match terms only")
    parser.add_argument("--examples", type=int, default=10, help="flagged texts to show")
    args = parser.parse_args(argv)

    library = load_library(args.lexicon)
    variants = None if args.no_variants else VariantConfig()
    matcher = Matcher(library.terms, library.allow, variants=variants)
    sources = benign_sources(args.datasets)
    started = time.perf_counter()
    result = measure(matcher, sources, args.examples)
    report = {
        "benchmark": "lexicon_fpr",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "lexicon": [str(p) for p in args.lexicon],
        "terms": len(matcher),
        "variants": not args.no_variants,
        "seconds": round(time.perf_counter() - started, 2),
        **result,
        "risky_hit_rate": hit_rates(matcher, risky_sources(args.datasets)),
    }
    benign_answers, harmful_answers = answer_sources(args.datasets)
    report["answers"] = {
        "benign": level3_rates(matcher, benign_answers, args.examples),
        "harmful": level3_rates(matcher, harmful_answers, args.examples),
    }
    json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
