"""A character-level ``BertTokenizerFast`` built from the training text.

BERT's basic tokenizer already splits every CJK character into its own token; with a vocab
of single characters (plus ``##`` forms of latin letters and digits, and frequent English
words) Chinese is tokenized per character and English per word or per letter.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from transformers import BertTokenizerFast

from models.training.example import DIRECTION_TOKENS

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *DIRECTION_TOKENS.values()]
_WORD = re.compile(r"[a-z]+")


def _is_cjk_or_symbol(ch: str) -> bool:
    return not ch.isspace() and not ch.isascii()


def build_vocab(
    texts: Iterable[str], max_chars: int, min_count: int = 2, max_words: int = 1500
) -> list[str]:
    """Special tokens, ASCII printable characters and their ``##`` forms, the ``max_chars``
    most frequent other characters, and the ``max_words`` most frequent English words."""
    chars: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for text in texts:
        norm = text.lower()  # the tokenizer does not NFKC, so neither may the vocab
        chars.update(c for c in norm if _is_cjk_or_symbol(c))
        words.update(w for w in _WORD.findall(norm) if len(w) > 1)
    ascii_chars = [chr(i) for i in range(33, 127) if not chr(i).isupper()]
    cont = ["##" + c for c in ascii_chars if c.isalnum()]
    top_chars = [c for c, n in chars.most_common(max_chars) if n >= min_count]
    top_words = [w for w, n in words.most_common(max_words) if n >= min_count]
    vocab: list[str] = []
    for tok in [*SPECIAL, *ascii_chars, *cont, *top_chars, *top_words]:
        if tok not in vocab:
            vocab.append(tok)
    return vocab


def make_tokenizer(vocab: list[str], workdir: Path, max_length: int) -> BertTokenizerFast:
    """A fast tokenizer over ``vocab`` with the direction markers as special tokens."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", "utf-8")
    tok = BertTokenizerFast(  # type: ignore[no-untyped-call]
        vocab_file=str(path),
        do_lower_case=True,
        tokenize_chinese_chars=True,
        strip_accents=False,
        model_max_length=max_length,
        additional_special_tokens=list(DIRECTION_TOKENS.values()),
    )
    return tok
