"""Term files, allow lists, encodings, import, filing export (xlsx/csv) and coverage, CLI."""

from __future__ import annotations

import argparse
import codecs
import csv
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from gateway.lexicon import LexiconError, Term, load_allow_file, load_library, load_term_file
from gateway.lexicon.cli import register
from gateway.lexicon.filing import FILING_HEADER, TOTAL_MINIMUM, coverage, export, filing_rows
from gateway.lexicon.importer import import_terms
from gateway.lexicon.library import write_term_file
from gateway.lexicon.textfile import decode_bytes
from tests.support.paths import SHIPPED_POLICIES, TEST_LEXICON

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    result: int = args.func(args)
    return result


# --- term files and allow lists ------------------------------------------------------


def test_load_term_file_with_comments_and_default_level(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(
        "# comment\nterm,category,level\n制作炸弹,A1.04,3\n\n# more\npipe bomb,A1.04,\n", "utf-8"
    )
    assert load_term_file(f) == [Term("制作炸弹", "A1.04", 3), Term("pipe bomb", "A1.04", 1)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("word,cat\nx,A1.04\n", "header must be 'term,category,level'"),
        ("term,category,level\n炸弹,Z9,1\n", "t.csv:2: unknown category 'Z9'"),
        ("term,category,level\n炸弹,A1.04,high\n", "t.csv:2: level must be an integer"),
        ("term,category,level\n炸弹,A1.04,0\n", "t.csv:2: level must be >= 1"),
        ("term,category,level\n,A1.04,1\n", "t.csv:2: empty term"),
        ("term,category,level\n炸弹\n", "t.csv:2: expected term,category[,level]"),
    ],
)
def test_term_file_errors_name_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    f = tmp_path / "t.csv"
    f.write_text(body, "utf-8")
    with pytest.raises(LexiconError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_term_file(f)


def test_allow_file(tmp_path: Path) -> None:
    f = tmp_path / "allow.txt"
    f.write_text("# benign\n乌鲁木齐\n\n  预防自杀方法  \n", "utf-8")
    assert load_allow_file(f) == ["乌鲁木齐", "预防自杀方法"]


def test_shipped_lexicon_directory_is_the_starter_library() -> None:
    lib = load_library([SHIPPED_POLICIES / "lexicon"])
    assert len(lib.terms) >= 300
    assert "预防自杀方法" in lib.allow
    cats = {t.category for t in lib.terms}
    assert {"A1.04", "A1.06", "A1.08", "A3.05", "A4.01"} <= cats
    assert any(c.startswith("A2.") for c in cats)
    # Political lists are the operator's own: none shipped.
    assert not cats & {"A1.01", "A1.02", "A1.03", "A1.07"}


def test_write_then_load_round_trip(tmp_path: Path) -> None:
    terms = [Term("制作炸弹", "A1.04", 3), Term('a "quoted", term', "A1.08", 2)]
    f = tmp_path / "out.csv"
    assert write_term_file(f, terms) == 2
    assert load_term_file(f) == terms


# --- encodings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s.encode("utf-8"),
        lambda s: codecs.BOM_UTF8 + s.encode("utf-8"),
        lambda s: s.encode("utf-16"),  # with BOM
        lambda s: s.encode("utf-16-le"),  # without BOM
        lambda s: s.encode("utf-16-be"),
        lambda s: s.encode("gbk"),
        lambda s: s.encode("gb18030"),
    ],
)
def test_decode_any_encoding(encode: object) -> None:
    text = "炸弹\n色情网站\nabc\n"
    assert callable(encode)
    assert decode_bytes(encode(text)) == text


def test_decode_mixed_lines() -> None:
    data = "制作炸弹\n".encode() + "出售枪支\n".encode("gbk")
    assert decode_bytes(data) == "制作炸弹\n出售枪支\n"


# --- import ---------------------------------------------------------------------------


def test_import_plain_list_gbk_drops_unsafe_entries(tmp_path: Path) -> None:
    src = tmp_path / "list.txt"
    src.write_bytes("制作炸弹\n法\n製作炸彈\n\n出售 枪支\nx\n".encode("gbk"))
    result = import_terms(src, "A1.04", level=2)
    assert [t.text for t in result.terms] == ["制作炸弹", "出售 枪支"]
    assert all((t.category, t.level) == ("A1.04", 2) for t in result.terms)
    assert result.dropped == {"shorter than 2 characters": 2, "duplicate": 1}


def test_import_csv_with_bom_and_filing_columns(tmp_path: Path) -> None:
    src = tmp_path / "list.csv"
    src.write_bytes(
        codecs.BOM_UTF8
        + "关键词,一级分类,二级分类\n色情网站,A1 x,A1.06 宣扬暴力、淫秽色情\n赌博网站,A1 x,\n".encode()
    )
    result = import_terms(src, "A1.08")
    assert [(t.text, t.category) for t in result.terms] == [
        ("色情网站", "A1.06"),
        ("赌博网站", "A1.08"),
    ]


def test_import_csv_without_header_uses_first_column(tmp_path: Path) -> None:
    src = tmp_path / "list.csv"
    src.write_text("网络赌博,3\n百家乐,1\n", "utf-8")
    assert [t.text for t in import_terms(src, "A1.08").terms] == ["网络赌博", "百家乐"]


def test_import_rejects_unknown_category(tmp_path: Path) -> None:
    src = tmp_path / "l.txt"
    src.write_text("炸弹\n", "utf-8")
    with pytest.raises(LexiconError, match="unknown category"):
        import_terms(src, "A9.99")


# --- filing export --------------------------------------------------------------------


def test_filing_rows_use_taxonomy_names() -> None:
    rows = filing_rows([Term("制作炸弹", "A1.04", 3), Term("制作炸弹", "A1.04", 1)])
    assert rows == [
        ("制作炸弹", "A1 包含违反社会主义核心价值观的内容", "A1.04 宣扬恐怖主义、极端主义")
    ]


def test_export_xlsx_opens_with_openpyxl(tmp_path: Path) -> None:
    out = tmp_path / "filing.xlsx"
    terms = [
        Term("制作炸弹", "A1.04", 3),
        Term("赌博网站", "A1.08", 3),
        Term("刷单返利", "A3.05", 3),
    ]
    assert export(terms, out) == 3
    ws = load_workbook(out, read_only=True).active
    assert ws is not None
    rows = [tuple(c for c in row) for row in ws.iter_rows(values_only=True)]
    assert rows[0] == FILING_HEADER
    assert rows[1] == (
        "制作炸弹",
        "A1 包含违反社会主义核心价值观的内容",
        "A1.04 宣扬恐怖主义、极端主义",
    )
    assert rows[3] == ("刷单返利", "A3 商业违法违规", "A3.05 其他商业违法违规行为")


def test_export_csv_has_bom_for_excel(tmp_path: Path) -> None:
    out = tmp_path / "filing.csv"
    export([Term("制作炸弹", "A1.04", 3)], out)
    assert out.read_bytes().startswith(codecs.BOM_UTF8)
    with out.open(encoding="utf-8-sig", newline="") as f:
        assert list(csv.reader(f)) == [
            list(FILING_HEADER),
            ["制作炸弹", "A1 包含违反社会主义核心价值观的内容", "A1.04 宣扬恐怖主义、极端主义"],
        ]


def test_export_rejects_other_extensions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.xlsx or \.csv"):
        export([], tmp_path / "x.txt")


# --- coverage -------------------------------------------------------------------------


def test_coverage_counts_and_minimums() -> None:
    terms = [Term(f"词{i}", "A1.04", 1) for i in range(200)] + [Term("词0", "A2.01", 1)]
    cov = coverage(terms)
    by_code = {c.code: c for c in cov.categories}
    assert cov.total == 200  # distinct texts
    assert by_code["A1.04"].ok and by_code["A1.04"].missing == 0
    assert by_code["A1.01"].missing == 200
    assert by_code["A2.01"].count == 1 and by_code["A2.01"].missing == 99
    assert by_code["A3.05"].minimum is None and by_code["A3.05"].ok
    assert not cov.ok
    data = cov.to_json()
    assert data["total_minimum"] == TOTAL_MINIMUM
    assert "A1.01" in data["short"] and "A1.04" not in data["short"]  # type: ignore[operator]
    assert "A1.01" in cov.table() and "does NOT meet" in cov.table()


def test_coverage_can_be_met() -> None:
    terms = [
        Term(f"{code}词{i}", code, 1)
        for code in ("A1.01", "A1.02", "A1.03", "A1.04", "A1.05", "A1.06", "A1.07", "A1.08")
        for i in range(200)
    ]
    terms += [
        Term(f"{code}词{i}", code, 1)
        for code in (f"A2.0{k}" for k in range(1, 10))
        for i in range(100)
    ]
    terms += [Term(f"其他{i}", "A3.05", 1) for i in range(TOTAL_MINIMUM)]
    assert coverage(terms).ok


# --- CLI ------------------------------------------------------------------------------


def test_cli_import_export_coverage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src.txt"
    src.write_bytes("制作炸弹\n自制炸药\n法\n".encode("utf-16"))
    term_file = tmp_path / "terror.csv"
    assert (
        run_cli(
            "lexicon",
            "import",
            str(src),
            "--category",
            "A1.04",
            "--level",
            "3",
            "--out",
            str(term_file),
        )
        == 0
    )
    assert load_term_file(term_file) == [Term("制作炸弹", "A1.04", 3), Term("自制炸药", "A1.04", 3)]
    assert "dropped: 1 shorter than 2 characters" in capsys.readouterr().err

    out = tmp_path / "filing.xlsx"
    assert run_cli("lexicon", "export", str(term_file), "--out", str(out)) == 0
    ws = load_workbook(out, read_only=True).active
    assert ws is not None
    assert len(list(ws.iter_rows(values_only=True))) == 3

    capsys.readouterr()
    assert run_cli("lexicon", "coverage", str(term_file), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"] == 2 and not report["ok"]
    assert run_cli("lexicon", "coverage", str(term_file), "--strict") == 1
    assert "A1.04" in capsys.readouterr().out


def test_cli_import_to_stdout_and_scan(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "src.csv"
    src.write_text("term\n赌博网站\n", "utf-8")
    assert run_cli("lexicon", "import", str(src), "--category", "A1.08") == 0
    assert capsys.readouterr().out == "term,category,level\n赌博网站,A1.08,1\n"
    assert run_cli("lexicon", "scan", "教我怎么制作炸彈", "--lexicon", str(TEST_LEXICON)) == 0
    assert "制作炸弹" in capsys.readouterr().out


def test_cli_reports_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("term,category,level\n炸弹,NOPE,1\n", "utf-8")
    assert run_cli("lexicon", "coverage", str(bad)) == 2
    assert "bad.csv:2: unknown category" in capsys.readouterr().err
