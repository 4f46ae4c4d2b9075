"""``bank starter``: starter test banks built at run time from the shared public datasets
plus the questions this project wrote (``data/written_*.jsonl``). The datasets are read
where they lie and never copied into the repository; the banks are written to ``--out``.

Sources (all MIT or Apache-2.0, see the datasets' README):

- JADE-DB v1.0 (zh, en) and v2.0 (zh): risky prompts with a violation sub-category;
- JailBench: seed questions and their jailbreak wrappings, with TC260-003-style domains;
- MultiJail: harmful prompts (the zh and en columns), tagged by harm;
- CValues responsibility prompts: sensitive but legitimate questions (should be answered).

Dataset categories become taxonomy codes through the documented tables of
``models.training.labels`` (the ones the shipped classifier was trained with); JailBench's
five "specific service type" domains (law, finance, science, history, medicine) become A5.01
(accuracy), which the training tables leave out because a prompt classifier cannot judge it.
Questions under the operator's political codes are left out: those banks are the
operator's to fill. Risky questions of the 17 A.1/A.2 risks go, by a stable hash of their
id, about one third to the should-refuse bank and the rest to the generated-content bank;
the other risks go to the generated-content bank. Duplicates (after folding case, width
and punctuation) are dropped, first source wins.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import yaml

from gateway.assess.bank import BankItem, item_problems, parse_item, write_bank
from gateway.assess.coverage import fold
from gateway.assess.standard import BANKS, BankName, standard
from gateway.lexicon.textfile import read_text

REFUSE_SHARE = 35  # percent of A.1/A.2 questions that go to the should-refuse bank
A5_DOMAINS = {"法律": "A5.01", "金融": "A5.01", "科学": "A5.01", "历史": "A5.01", "医疗": "A5.01"}
Row = tuple[str, str, str, str, str]  # id, text, code, lang, source


def _csv(path: Path) -> Iterator[dict[str, str]]:
    yield from csv.DictReader(io.StringIO(read_text(path)))


def _first(codes: frozenset[str]) -> str:
    return sorted(codes)[0] if codes else ""


def _jade(root: Path) -> Iterator[Row]:
    from models.training import labels

    files = (("jade1zh", "jade-db-v1.0/jade_benchmark_zh.csv", "zh", "v1.0"),
             ("jade1en", "jade-db-v1.0/jade_benchmark_en.csv", "en", "v1.0"),
             ("jade2e", "jade-db-v2.0/jade_benchmark_easy_zh.csv", "zh", "v2.0"),
             ("jade2m", "jade-db-v2.0/jade_benchmark_medium_zh.csv", "zh", "v2.0"))  # fmt: skip
    for prefix, rel, lang, version in files:
        for row in _csv(root / "JADE-DB" / rel):
            code = _first(labels.jade_codes(row["违规类型"], row["违规子类"]))
            yield (f"{prefix}-{row['ID'].strip()}", row["问题"], code, lang,
                   f"JADE-DB {version} (MIT)")  # fmt: skip


def _jailbench(root: Path) -> Iterator[Row]:
    from models.training import labels

    def code(domain: str) -> str:
        domain = domain.strip()
        return labels.JAILBENCH_SUB.get(domain) or A5_DOMAINS.get(domain, "")

    for i, row in enumerate(_csv(root / "JailBench/JailBench_seed.csv")):
        yield f"jbseed-{i}", row["question_zh"], code(row["二级领域"]), "zh", "JailBench seed (MIT)"
    for i, row in enumerate(_csv(root / "JailBench/JailBench.csv")):
        yield f"jb-{i}", row["query"], code(row["二级领域"]), "zh", "JailBench (MIT)"


def _multijail(root: Path) -> Iterator[Row]:
    from models.training import labels

    for row in _csv(root / "MultiJail/data/MultiJail.csv"):
        codes = labels.multijail_codes(row["tags"])
        for lang in ("zh", "en"):
            yield f"mj-{row['id']}-{lang}", row[lang], _first(codes), lang, "MultiJail (MIT)"


def _cvalues(root: Path) -> Iterator[tuple[str, str]]:
    path = root / "CValues/dataset/cvalues_responsibility_prompts.jsonl"
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            yield f"cv-{row['id_']}", str(row["prompt"])


def aspect_rules() -> dict[str, tuple[str, ...]]:
    text = resources.files("gateway.assess").joinpath("data/aspect_rules.yaml").read_text("utf-8")
    return {str(k): tuple(v) for k, v in yaml.safe_load(text).items()}


def aspect_of(text: str, rules: dict[str, tuple[str, ...]]) -> str:
    return next((code for code, words in rules.items() if any(w in text for w in words)), "")


def written() -> list[BankItem]:
    """The questions this project wrote, shipped with the package."""
    out: list[BankItem] = []
    for name in ("written_generated.jsonl", "written_should_answer.jsonl"):
        text = resources.files("gateway.assess").joinpath(f"data/{name}").read_text("utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            row = json.loads(line)
            problems = item_problems(row)
            if problems:
                raise ValueError(f"{name}:{n}: {'; '.join(problems)}")
            out.append(parse_item(row))
    return out


def _bank_for(item_id: str, code: str) -> BankName:
    if code[:2] in ("A1", "A2"):
        share = int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) % 100
        return "should_refuse" if share < REFUSE_SHARE else "generated_content"
    return "generated_content"


def collect(root: Path) -> list[BankItem]:
    """Every starter question, deduplicated, in source order."""
    if not (root / "JADE-DB").is_dir():
        raise ValueError(f"{root}: no shared datasets here (set --datasets or GATEWAY_DATASETS)")
    operator = standard().operator_codes
    seen: set[str] = set()
    out: list[BankItem] = []

    def keep(item: BankItem) -> None:
        key = fold(item.text)
        if key and key not in seen:
            seen.add(key)
            out.append(item)

    for item in written():
        keep(item)
    for rid, text, code, lang, source in (*_jade(root), *_jailbench(root), *_multijail(root)):
        text = text.strip()
        if not text or not code.startswith("A") or code in operator:
            continue
        keep(BankItem(rid, text, _bank_for(rid, code), risk=code, lang=lang, source=source))
    rules = aspect_rules()
    for rid, text in _cvalues(root):
        keep(BankItem(rid, text.strip(), "should_answer", aspect=aspect_of(text, rules),
                      lang="zh", source="CValues responsibility prompts (Apache-2.0)"))  # fmt: skip
    return out


def build_starter(out: Path, datasets: Path | None = None) -> tuple[dict[str, int], list[BankItem]]:
    """Write ``<bank>.jsonl`` for each bank into ``out``; returns counts and the items."""
    if datasets is None:
        from models.training.paths import shared_datasets

        datasets = shared_datasets()
    items = collect(datasets)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for bank in BANKS:
        path = out / f"{bank}.jsonl"
        counts[str(path)] = write_bank(path, (i for i in items if i.bank == bank))
    return counts, items
