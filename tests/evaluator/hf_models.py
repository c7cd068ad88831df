"""Tiny random-initialised checkpoints of four families, each from its own config and tokenizer class.

Nothing is downloaded: the tokenizers get a byte-level (GPT-2, Qwen2) or a
character (Llama) vocabulary, the models a few thousand parameters. Dropout is
off so two fits that should agree do agree.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

if TYPE_CHECKING:
    from transformers import PretrainedConfig

FAMILIES = ("gpt2", "qwen2", "llama", "bert")
MAX_POSITIONS = 128

ConfigT = TypeVar("ConfigT", bound="PretrainedConfig")


class _Decoder(TypedDict):
    """The shape the Qwen2 and Llama checkpoints share."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int


def two_labels(config: ConfigT) -> ConfigT:
    """``config`` with a two-class head (the typed config constructors take no ``num_labels``; its setter sizes
    ``id2label``)."""
    config.num_labels = 2
    return config


def _byte_vocab() -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def tokenizer(family: str, **overrides: Any) -> Any:
    from transformers import BertTokenizer, GPT2Tokenizer, LlamaTokenizer, Qwen2Tokenizer

    if family == "gpt2":
        return GPT2Tokenizer(vocab=_byte_vocab(), merges=[], **overrides)
    if family == "qwen2":
        return Qwen2Tokenizer(vocab=_byte_vocab(), merges=[], **overrides)
    if family == "llama":
        chars = ["<unk>", "<s>", "</s>", "▁", *string.ascii_letters, *string.digits, *string.punctuation]
        return LlamaTokenizer(vocab={c: i for i, c in enumerate(chars)}, merges=[], **overrides)
    if family == "bert":
        chars = [*string.ascii_lowercase, *string.digits]
        words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
        return BertTokenizer(vocab={w: i for i, w in enumerate(words)}, **overrides)
    raise ValueError(family)


def model(family: str, vocab_size: int) -> Any:
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        GPT2Config,
        GPT2ForSequenceClassification,
        LlamaConfig,
        LlamaForSequenceClassification,
        Qwen2Config,
        Qwen2ForSequenceClassification,
    )

    if family == "gpt2":
        return GPT2ForSequenceClassification(
            two_labels(
                GPT2Config(
                    vocab_size=vocab_size,
                    n_positions=MAX_POSITIONS,
                    n_embd=16,
                    n_layer=2,
                    n_head=2,
                    resid_pdrop=0.0,
                    embd_pdrop=0.0,
                    attn_pdrop=0.0,
                    bos_token_id=vocab_size - 1,
                    eos_token_id=vocab_size - 1,
                )
            )
        )
    decoder = _Decoder(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=MAX_POSITIONS,
    )
    if family == "qwen2":
        return Qwen2ForSequenceClassification(two_labels(Qwen2Config(vocab_size=vocab_size, **decoder)))
    if family == "llama":
        return LlamaForSequenceClassification(two_labels(LlamaConfig(vocab_size=vocab_size, **decoder)))
    if family == "bert":
        return BertForSequenceClassification(
            two_labels(
                BertConfig(
                    vocab_size=vocab_size,
                    hidden_size=16,
                    num_hidden_layers=2,
                    num_attention_heads=2,
                    intermediate_size=32,
                    max_position_embeddings=MAX_POSITIONS,
                    hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0,
                )
            )
        )
    raise ValueError(family)


def checkpoint(folder: Path, family: str, **tokenizer_overrides: Any) -> Path:
    """``folder`` with a tiny ``family`` checkpoint as save_pretrained writes it."""
    import torch

    torch.manual_seed(0)
    tok = tokenizer(family, **tokenizer_overrides)
    model(family, len(tok)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
