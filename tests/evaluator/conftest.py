"""Fixtures of the evaluator tests: a prepared run folder, a tiny jsonl task with tiny HF models."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.evaluator.hf_models import two_labels

WORDS_POS = ["good", "great", "fine", "nice", "happy", "bright"]
WORDS_NEG = ["bad", "awful", "poor", "sad", "grim", "dark"]
FILLER = ["the", "a", "day", "was", "very", "it", "and", "so"]


def _rows(n: int, rng: random.Random) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = [rng.choice(WORDS_POS if label else WORDS_NEG) for _ in range(2)] + rng.sample(FILLER, 3)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny data in the AAR jsonl format and two tiny random-initialised checkpoints (GPT-2 and BERT)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        GPT2Config,
        GPT2ForSequenceClassification,
        PreTrainedTokenizerFast,
    )

    root = tmp_path_factory.mktemp("hf")
    rng = random.Random(0)
    data = root / "data"
    data.mkdir()
    for name, n in (("train_label", 40), ("train_unlabel", 60), ("test", 40)):
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(n, rng)))
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS_POS, *WORDS_NEG, *FILLER])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]"
    )
    weak, strong = root / "weak", root / "strong"
    GPT2ForSequenceClassification(
        two_labels(
            GPT2Config(
                vocab_size=len(vocab),
                n_positions=32,
                n_embd=16,
                n_layer=1,
                n_head=2,
                pad_token_id=0,
                bos_token_id=2,
                eos_token_id=3,
            )
        )
    ).save_pretrained(weak)
    BertForSequenceClassification(
        two_labels(
            BertConfig(
                vocab_size=len(vocab),
                hidden_size=16,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=32,
                max_position_embeddings=32,
            )
        )
    ).save_pretrained(strong)
    fast.save_pretrained(weak)
    fast.save_pretrained(strong)
    return {"data": data, "weak": weak, "strong": strong}
