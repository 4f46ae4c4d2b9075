"""Readers for the shared datasets, each returning ``Example`` rows with taxonomy codes.

The data is read from ``data_dir`` at run time and never copied into the repository. XSafety
("research use only") and Flames (no per-item verdict) are not used for training; the
evaluation reads XSafety (zh and en) as an out-of-domain check only. KdConv, CMRC2018 and
GSM8K are all benign: everyday dialogue, Wikipedia questions and passages, and English
maths problems with worked answers, each capped so no single domain dominates the benign side.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

from models.training import labels
from models.training.example import Direction, Example, dedup_key


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _rows(path: Path, limit: int | None) -> Iterator[dict[str, str]]:
    for i, row in enumerate(csv.DictReader(io.StringIO(_read_text(path)))):
        if limit is not None and i >= limit:
            return
        yield row


def _side(key: str) -> Direction:
    """A stable pseudo-random direction for social-media text, which a gateway sees both as
    prompts and as quoted responses; half of it each way keeps direction from meaning 'safe'."""
    return "in" if hashlib.sha1(key.encode()).digest()[0] % 2 == 0 else "out"


def cold(data_dir: Path, limit: int | None = None) -> list[Example]:
    """COLD train and dev, pooled and split like every other source: dev is drawn from the
    same pool as train, so a dev figure says little that the test split does not."""
    out: list[Example] = []
    for name in ("train", "dev"):
        for row in _rows(data_dir / "COLD/COLDataset" / f"{name}.csv", limit):
            text = row["TEXT"].strip()
            codes = (
                frozenset({labels.COLD_TOPIC[row["topic"]]}) if row["label"] == "1" else frozenset()
            )
            ex = Example(text, _side(text), codes, "COLD", "cold:" + dedup_key(text))
            ex.tags = frozenset({"topic:" + row["topic"]})
            out.append(ex)
    return out


def swsr(data_dir: Path, limit: int | None = None) -> list[Example]:
    """SWSR comments; the user gender/location columns are never read."""
    out = []
    for row in _rows(data_dir / "SWSR/SWSR/SexComment.csv", limit):
        text = row["comment_text"].strip()
        codes = frozenset({labels.SWSR_SEXIST}) if row["label"] == "1" else frozenset()
        out.append(Example(text, _side(text), codes, "SWSR", "swsr:" + dedup_key(text)))
    return out


def jade(data_dir: Path, limit: int | None = None) -> list[Example]:
    """JADE v1/v2 prompts, and v3 answers labeled with their question's v1/v2 codes."""
    out: list[Example] = []
    by_key: dict[str, frozenset[str]] = {}
    for rel in (
        "jade-db-v1.0/jade_benchmark_zh.csv",
        "jade-db-v1.0/jade_benchmark_en.csv",
        "jade-db-v2.0/jade_benchmark_easy_zh.csv",
        "jade-db-v2.0/jade_benchmark_medium_zh.csv",
    ):
        for row in _rows(data_dir / "JADE-DB" / rel, limit):
            text = row["问题"].strip()
            codes = labels.jade_codes(row["违规类型"], row["违规子类"])
            key = dedup_key(text)
            by_key[key] = codes
            out.append(Example(text, "in", codes, "JADE", "jade:" + key))
    for rel in (
        "jade-db-v3.0/jade_alignment_hard_zh.csv",
        "jade-db-v3.0/jade_alignment_medium_zh.csv",
    ):
        for row in _rows(data_dir / "JADE-DB" / rel, limit):
            q, bad, good = (row[k].strip() for k in ("问题", "违规回答", "安全有用回答"))
            key = dedup_key(q)
            codes = by_key.get(key, frozenset({"A1.08"}))
            group = "jade:" + key
            out.append(Example(q, "in", codes, "JADE", group))
            out.append(Example(bad, "out", codes, "JADE-v3-unsafe", group))
            out.append(Example(good, "out", frozenset(), "JADE-v3-safe", group))
    return out


def jailbench(data_dir: Path, limit: int | None = None) -> list[Example]:
    """Seeds as plain prompts, and their jailbreak wrappings with X2 added."""
    seeds = list(_rows(data_dir / "JailBench/JailBench_seed.csv", None))
    out: list[Example] = []
    for i, row in enumerate(seeds):
        code = labels.JAILBENCH_SUB.get(row["二级领域"].strip())
        if code is not None:
            out.append(
                Example(
                    row["question_zh"].strip(), "in", frozenset({code}), "JailBench-seed", f"jb:{i}"
                )
            )
    for row in _rows(data_dir / "JailBench/JailBench.csv", limit):
        text = row["query"].strip()
        code = labels.JAILBENCH_SUB.get(row["二级领域"].strip(), "A1.08")
        seed = next((i for i, s in enumerate(seeds) if s["question_zh"].strip() in text), -1)
        codes = frozenset({labels.JAILBREAK} | ({code} if code else set()))
        out.append(
            Example(
                text,
                "in",
                codes,
                "JailBench",
                f"jb:{seed}" if seed >= 0 else "jb:" + dedup_key(text),
            )
        )
    return out


def multijail(data_dir: Path, limit: int | None = None) -> list[Example]:
    """The zh and en versions of each item, grouped so both land in the same split."""
    out = []
    for row in _rows(data_dir / "MultiJail/data/MultiJail.csv", limit):
        codes = labels.multijail_codes(row["tags"])
        for lang in ("zh", "en"):
            out.append(
                Example(row[lang].strip(), "in", codes, f"MultiJail-{lang}", "mj:" + row["id"])
            )
    return out


def cvalues(data_dir: Path, limit: int | None = None) -> list[Example]:
    """Sensitive but legitimate expert questions: hard negatives."""
    out = []
    path = data_dir / "CValues/dataset/cvalues_responsibility_prompts.jsonl"
    for i, line in enumerate(path.read_text("utf-8").splitlines()):
        if limit is not None and i >= limit:
            break
        row = json.loads(line)
        out.append(Example(row["prompt"].strip(), "in", frozenset(), "CValues", f"cv:{row['id_']}"))
    return out


def davidson(data_dir: Path, limit: int | None = None, cap: int = 1500) -> list[Example]:
    """English tweets, at most ``cap`` per class so English stays a minority."""
    out = []
    per_class: dict[int, int] = {}
    for row in _rows(data_dir / "Davidson-HateOffensive/data/labeled_data.csv", limit):
        cls = int(row["class"])
        if per_class.get(cls, 0) >= cap:
            continue
        per_class[cls] = per_class.get(cls, 0) + 1
        text = " ".join(w for w in row["tweet"].split() if not w.startswith(("@", "http")))
        text = text.replace("&amp;", "&").removeprefix("RT ").strip(" !:")
        code = labels.DAVIDSON_CLASS[cls]
        codes = frozenset({code}) if code else frozenset()
        out.append(Example(text, _side(text), codes, "Davidson", "dv:" + dedup_key(text)))
    return out


def kdconv(data_dir: Path, limit: int | None = None, cap: int = 5000) -> list[Example]:
    """Knowledge-grounded dialogues about films, music and travel: user turns ("in") and
    answers ("out"), grouped by dialogue; a seeded sample of at most ``cap`` utterances."""
    rows: list[Example] = []
    for domain in ("film", "music", "travel"):
        for split in ("dev", "test"):
            path = data_dir / "KdConv/data" / domain / f"{split}.json"
            dialogues = json.loads(path.read_text("utf-8"))[: limit if limit else None]
            for i, dialogue in enumerate(dialogues):
                group = f"kd:{domain}:{split}:{i}"
                for j, turn in enumerate(dialogue["messages"]):
                    text = turn["message"].strip()
                    direction: Direction = "in" if j % 2 == 0 else "out"
                    if len(text) >= 4:
                        rows.append(Example(text, direction, frozenset(), "KdConv", group))
    random.Random(0).shuffle(rows)
    return rows[:cap]


_SENTENCE_END = re.compile(r"(?<=[。！？；])")


def _chunks(passage: str, size: int = 200) -> list[str]:
    """A passage cut at sentence ends into pieces of at most about ``size`` characters."""
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(passage):
        if current and len(current) + len(sentence) > size:
            out.append(current)
            current = ""
        current += sentence
    if current.strip():
        out.append(current)
    return [c.strip() for c in out if len(c.strip()) >= 10]


def cmrc2018(data_dir: Path, limit: int | None = None) -> list[Example]:
    """Questions on Chinese Wikipedia passages ("in") and the passages, in chunks of about
    200 characters, as encyclopedic answers ("out"); grouped by passage. CC BY-SA 4.0."""
    out: list[Example] = []
    for name in ("dev", "trial"):
        data = json.loads(
            (data_dir / "CMRC2018/squad-style-data" / f"cmrc2018_{name}.json").read_text("utf-8")
        )["data"]
        for article in data[: limit if limit else None]:
            for para in article["paragraphs"]:
                group = f"cmrc:{para['id']}"
                for chunk in _chunks(para["context"]):
                    out.append(Example(chunk, "out", frozenset(), "CMRC2018", group))
                for qa in para["qas"]:
                    q = qa["question"].strip()
                    out.append(Example(q, "in", frozenset(), "CMRC2018", group))
    return out


_CALC = re.compile(r"<<[^>]*>>")


def gsm8k(data_dir: Path, limit: int | None = None, cap: int = 2000) -> list[Example]:
    """English maths word problems ("in") and their worked answers ("out", calculator marks
    removed); the first ``cap`` of the train file."""
    out: list[Example] = []
    path = data_dir / "GSM8K/grade_school_math/data/train.jsonl"
    for i, line in enumerate(path.read_text("utf-8").splitlines()[: min(cap, limit or cap)]):
        row = json.loads(line)
        answer = _CALC.sub("", row["answer"]).replace("####", "Answer:").strip()
        group = f"gsm:{i}"
        out.append(Example(row["question"].strip(), "in", frozenset(), "GSM8K", group))
        out.append(Example(answer, "out", frozenset(), "GSM8K", group))
    return out


def xsafety(data_dir: Path, lang: str) -> dict[str, list[str]]:
    """XSafety prompts in ``lang`` (zh, en) by scenario, for out-of-domain evaluation only."""
    out = {}
    for path in sorted((data_dir / "XSafety" / lang).glob("*.csv")):
        lines = [ln.strip().strip('"') for ln in _read_text(path).splitlines()]
        out[re.sub(r"_(en|n|zh)$", "", path.stem)] = [ln for ln in lines if ln]
    return out


def all_sources(data_dir: Path, limit: int | None = None) -> list[Example]:
    """Every training source, in a fixed order (the order matters for reproducibility)."""
    return [
        *cold(data_dir, limit),
        *swsr(data_dir, limit),
        *jade(data_dir, limit),
        *jailbench(data_dir, limit),
        *multijail(data_dir, limit),
        *cvalues(data_dir, limit),
        *davidson(data_dir, limit),
        *kdconv(data_dir, limit),
        *cmrc2018(data_dir, limit),
        *gsm8k(data_dir, limit),
    ]
