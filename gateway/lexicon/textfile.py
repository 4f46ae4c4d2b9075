"""Reading word lists whatever their encoding: UTF-8 (with or without BOM), UTF-16, GBK.

Public Chinese word lists come in every encoding, sometimes mixed within one file (lines
pasted from different sources). Detection is by BOM first, then by NUL bytes (UTF-16
without BOM), then line by line: UTF-8 if it decodes, else GB18030 (a superset of GBK
and GB2312), else UTF-8 with replacement characters so one bad line cannot stop a load.
"""

from __future__ import annotations

import codecs
from pathlib import Path


def decode_bytes(data: bytes) -> str:
    """Decode a word-list file's bytes to text; see the module docstring for the order."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    if data and data.count(b"\x00") * 4 >= len(data):
        # UTF-16 without BOM: every ASCII char and many CJK chars have a zero byte.
        le = data[1::2].count(b"\x00") >= data[0::2].count(b"\x00")
        return data.decode("utf-16-le" if le else "utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "\n".join(_decode_line(line) for line in data.split(b"\n"))


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return line.decode("gb18030")
    except UnicodeDecodeError:
        return line.decode("utf-8", errors="replace")


def read_text(path: str | Path) -> str:
    """A word-list file as text, newlines normalized to ``\\n``."""
    text = decode_bytes(Path(path).read_bytes())
    return text.replace("\r\n", "\n").replace("\r", "\n")
