"""Tiny random-weight models, built on the spot, for tests and benchmarks that must run anywhere.

They go through the same loading path as real models: a model directory with
``config.json``, safetensors weights and a fast tokenizer (a character-level vocabulary built
here). Nothing is downloaded.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Common Chinese characters plus ASCII: enough that realistic text is not all [UNK].
_CJK = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黑断线字"
_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def char_vocab(extra: Sequence[str] = ()) -> dict[str, int]:
    chars = dict.fromkeys(
        string.ascii_letters + string.digits + string.punctuation + _CJK + "，。？！：；"
    )
    return {t: i for i, t in enumerate((*extra, *_SPECIALS, *chars))}


def char_tokenizer(vocab: dict[str, int], max_length: int, **special: str) -> Any:
    """A fast character-level tokenizer wrapping texts as ``[CLS] ... [SEP]``."""
    from tokenizers import (  # type: ignore[import-untyped]
        Regex,
        Tokenizer,
        models,
        pre_tokenizers,
        processors,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        model_max_length=max_length,
        **{"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
           "mask_token": "[MASK]", **special},
    )  # fmt: skip


def build_encoder(
    directory: Path,
    labels: Sequence[str] = ("safe", "A1.04", "A2.05", "A4.05"),
    *,
    layers: int = 1,
    hidden: int = 32,
    heads: int = 2,
    max_length: int = 128,
    multi_label: bool = True,
    seed: int = 0,
) -> Path:
    """Save a random-weight ``BertForSequenceClassification`` + tokenizer into ``directory``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    vocab = char_vocab()
    config = BertConfig(  # type: ignore[no-untyped-call]
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 4,
        max_position_embeddings=max_length,
        pad_token_id=vocab["[PAD]"],
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)  # type: ignore[no-untyped-call]
    model.save_pretrained(directory)
    char_tokenizer(vocab, max_length).save_pretrained(directory)
    return directory


GUARD_TEMPLATE = (
    "{% for m in messages %}[USER] {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}[ASSISTANT]{% endif %}"
)


def build_guard(
    directory: Path, *, first_token: str | None = None, max_length: int = 512, seed: int = 0
) -> Path:
    """Save a random-weight ``LlamaForCausalLM`` with a chat template into ``directory``.

    With ``first_token`` set, the final norm is zeroed so every logit is 0 and greedy decoding
    always picks id 0, which is ``first_token``: the model then answers e.g. ``"unsafe ..."``
    deterministically, exercising the real generate -> decode -> parse path.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    extra = (first_token,) if first_token else ()
    vocab = char_vocab((*extra, "[USER]", "[ASSISTANT]", "[EOS]"))
    config = LlamaConfig(  # type: ignore[no-untyped-call]
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=max_length,
        pad_token_id=vocab["[PAD]"],
        bos_token_id=vocab["[CLS]"],
        eos_token_id=vocab["[EOS]"],
        architectures=["LlamaForCausalLM"],
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)  # type: ignore[no-untyped-call]
    if first_token:
        with torch.no_grad():
            model.model.norm.weight.zero_()
    model.save_pretrained(directory)
    tok = char_tokenizer(vocab, max_length, eos_token="[EOS]")
    tok.add_special_tokens({"additional_special_tokens": ["[USER]", "[ASSISTANT]"]})
    tok.chat_template = GUARD_TEMPLATE
    tok.save_pretrained(directory)
    return directory


def build_ngram(
    directory: Path,
    labels: Sequence[str] = ("A1.04", "A2.05", "A4.05"),
    *,
    buckets: int = 4096,
    dim: int = 8,
    hidden: int = 8,
    seed: int = 0,
    any_head: bool = False,
) -> Path:
    """Save a random-weight character n-gram model (:mod:`models.ngram`) into ``directory``,
    with a random "any unsafe" head (:mod:`models.ngram_any`) when ``any_head``."""
    import torch

    from models import ngram, ngram_any
    from models.ngram_features import FeatureConfig, PinyinTable

    torch.manual_seed(seed)
    net = ngram.NgramNet(buckets, dim, hidden, len(labels))
    with torch.no_grad():  # a visible direction effect, as a trained model has
        net.direction.weight.normal_(0.0, 0.5)
    if any_head:
        net.any_head = ngram_any.AnyHead(buckets)
        with torch.no_grad():
            net.any_head.idf.uniform_(1.0, 8.0)
            net.any_head.weight.normal_(0.0, 2.0)
        net.any_threshold = (0.5, 0.5)
    features = FeatureConfig(buckets=buckets, word_orders=(1, 2))  # as the shipped model
    ngram.save(directory, net, features, PinyinTable.build(), labels, model_version="tiny-ngram")
    return directory
