"""Keyword-matcher throughput on 200-character texts with a 60,000-term library; prints JSON.

Side by side, in one process on one core:

- ``automaton_only``: Aho-Corasick over the raw text, no normalization (the floor; the
  same text objects every pass, so their UTF-8 form is cached, as it is not in a scan);
- ``normalize``: :func:`gateway.lexicon.normalize` alone;
- ``scan``: what the gateway runs, normalize + match + allow list + offset mapping.

Each is run on Chinese texts (real comments from COLD when ``--datasets`` has it, else
generated) and on English texts. MB/s counts the UTF-8 bytes of the input texts.

The library is the shared public word lists (Sensitive-lexicon and houbb-sensitive-word,
read at run time) topped up with generated terms to ``--terms``, or generated only with
``--synthetic``. Pinyin/homophone variants are on, as in the shipped policy.

``--backend`` picks the automaton (default: the fastest installed, see
:mod:`gateway.lexicon.automaton`). On a shared machine, prefer the ``*_cpu`` figures and
repeat the run: each result carries the 1-minute load average taken just before it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from gateway.lexicon import Matcher, Term, VariantConfig, automaton, normalize
from gateway.lexicon.textfile import read_text
from models.training.paths import shared_datasets

DEFAULT_DATASETS = shared_datasets()
TEXT_LEN = 200
_COMMON_HAN = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家"
    "学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经"
    "头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者"
)
_ENGLISH = (
    "the of and to in is you that it he was for on are as with his they at be this have from or one "
    "had by word but not what all were we when your can said there use an each which she do how their "
    "if will up other about out many then them these so some her would make like him into time has look "
    "two more write go see number no way could people my than first water been call who oil its now find"
).split()


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu or platform.processor()} ({platform.machine()}), Python {platform.python_version()}"
    )


def shared_terms(root: Path, limit: int) -> list[Term]:
    """Terms from the public lists, read at run time; only multi-character entries."""
    files = sorted((root / "Sensitive-lexicon" / "Vocabulary").glob("*.txt"))
    files.append(
        root / "houbb-sensitive-word" / "src" / "main" / "resources" / "sensitive_word_dict.txt"
    )
    seen: dict[str, None] = {}
    for path in files:
        if not path.exists():
            continue
        for line in read_text(path).split("\n"):
            word = line.strip()
            if len(word) >= 2:
                seen.setdefault(word, None)
            if len(seen) >= limit:
                break
    return [Term(w, "A1.08", 1) for w in seen]


def synthetic_terms(n: int, rng: random.Random, exclude: set[str]) -> list[Term]:
    out: list[Term] = []
    while len(out) < n:
        if rng.random() < 0.85:
            # Any of the 20,902 unified ideographs, so (like a real library) most terms
            # are rare in ordinary text; the shared lists show the hit-heavy case.
            word = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 5)))
        else:
            word = " ".join(rng.choice(_ENGLISH) for _ in range(rng.randint(2, 3))) + "x"
        if word not in exclude:
            exclude.add(word)
            out.append(Term(word, "A1.08", 1))
    return out


def chinese_texts(root: Path, n: int, rng: random.Random) -> tuple[list[str], str]:
    path = root / "COLD" / "COLDataset" / "train.csv"
    if path.exists():
        import csv

        with path.open(encoding="utf-8-sig", newline="") as f:
            comments = [row["TEXT"] for row in csv.DictReader(f)]
        texts: list[str] = []
        while len(texts) < n:
            buf = ""
            while len(buf) < TEXT_LEN:
                buf += rng.choice(comments)
            texts.append(buf[:TEXT_LEN])
        return texts, "COLD comments joined and cut to 200 chars"
    texts = ["".join(rng.choice(_COMMON_HAN + "，。") for _ in range(TEXT_LEN)) for _ in range(n)]
    return texts, "generated Han text with punctuation"


def english_texts(n: int, rng: random.Random) -> list[str]:
    texts = []
    for _ in range(n):
        buf = ""
        while len(buf) < TEXT_LEN:
            buf += (
                rng.choice(_ENGLISH).capitalize() + " "
                if rng.random() < 0.1
                else rng.choice(_ENGLISH) + " "
            )
        texts.append(buf[:TEXT_LEN])
    return texts


def run(fn: Callable[[str], object], texts: Sequence[str], seconds: float) -> dict[str, float]:
    """Repeat passes over ``texts`` for about ``seconds``; report the best pass.

    Both wall-clock and process CPU time are reported: on a shared machine (other jobs on
    the same cores) wall time includes time the process was not running, CPU time does not.
    """
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    load_1m = round(os.getloadavg()[0], 2)
    best_wall = best_cpu = float("inf")
    deadline = time.perf_counter() + seconds
    passes = 0
    while passes < 3 or time.perf_counter() < deadline:
        wall, cpu = time.perf_counter(), time.process_time()
        for t in texts:
            fn(t)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        passes += 1
    return {
        "load_average_1m": load_1m,
        "texts_per_s": round(len(texts) / best_wall),
        "mb_per_s": round(nbytes / best_wall / 1e6, 2),
        "us_per_text": round(best_wall / len(texts) * 1e6, 2),
        "texts_per_s_cpu": round(len(texts) / best_cpu),
        "mb_per_s_cpu": round(nbytes / best_cpu / 1e6, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--terms", type=int, default=60_000)
    parser.add_argument("--texts", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--synthetic", action="store_true", help="generated terms only")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backend", choices=automaton.available(), help="automaton")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    terms = [] if args.synthetic else shared_terms(args.datasets, args.terms)
    source = f"{len(terms)} shared public terms"
    terms += synthetic_terms(args.terms - len(terms), rng, {t.text for t in terms})
    source += f" + {args.terms - int(source.split()[0])} generated"

    started = time.perf_counter()
    matcher = Matcher(terms, allow=["乌鲁木齐"], variants=VariantConfig(), backend=args.backend)
    build_s = time.perf_counter() - started
    raw = matcher._find_all  # the floor: same automaton, raw text, no normalization
    assert raw is not None

    zh, zh_source = chinese_texts(args.datasets, args.texts, rng)
    en = english_texts(args.texts, rng)
    hits_per_text = sum(len(matcher.scan(t)) for t in zh) / len(zh)

    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, texts in (("chinese", zh), ("english", en)):
        normalize("warm up")
        results[name] = {
            "automaton_only": run(raw, texts, args.seconds),
            "normalize": run(normalize, texts, args.seconds),
            "scan": run(matcher.scan, texts, args.seconds),
        }
    report = {
        "benchmark": "bench_matcher",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "library": {"terms": len(matcher), "source": source, "variants": True},
        "automaton": matcher.backend,
        "patterns_max_len": matcher.max_term_len,
        "build_seconds": round(build_s, 2),
        "text_chars": TEXT_LEN,
        "bytes_per_chinese_text": round(sum(len(t.encode("utf-8")) for t in zh) / len(zh)),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "chinese_texts": zh_source,
        "hits_per_chinese_text": round(hits_per_text, 2),
        "target_mb_per_s": 50,
        "results": results,
    }
    json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
