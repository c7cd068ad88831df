"""The HF learner on tiny random-init checkpoints of four families: padding, precision, recipes, backoff."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from aar.config import ModelTrainingConfig, TrainingConfig
from aar.errors import AarError
from evaluator.compute.hf import tokens
from evaluator.compute.hf.learner import HFLearner
from evaluator.compute.hf.metrics import METER
from evaluator.compute.hf.recipe import choose
from evaluator.compute.hf.tokens import Tokens
from evaluator.compute.tasks.base import Recipe
from evaluator.compute.training import Forward
from tests.evaluator import hf_models

pytestmark = pytest.mark.slow  # HF training

TEXTS = [
    "the day was good",
    "bad",
    "a very long and happy bright day it was indeed so very nice",
    "grim dark day",
    "fine",
    "it was a sad and poor and awful day",
] * 4
TARGETS = np.array([1, 0, 1, 0, 1, 0] * 4, dtype=np.float64)
RECIPE = Recipe(epochs=2, lr=3e-3, batch_size=8)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {f: hf_models.checkpoint(root / f, f) for f in hf_models.FAMILIES}


@pytest.mark.parametrize("family", hf_models.FAMILIES)
def test_each_family_trains_and_reads_its_last_real_token(family: str, checkpoints: dict[str, Path]) -> None:
    """A row's prediction is the same alone and padded in a batch of longer rows."""
    learner = HFLearner(checkpoints[family], 64)
    model = learner.fit(TEXTS, TARGETS, recipe=RECIPE, seed=0, device="cpu")
    tok, _ = tokens.load_tokenizer(checkpoints[family]), None
    assert model.config.pad_token_id == tok.pad_token_id is not None
    if family in ("gpt2", "llama"):
        assert tok.pad_token == tok.eos_token, "a decoder without a pad token pads with its eos"
    batched = learner.predict_proba(model, TEXTS[:6], device="cpu")
    alone = np.array([learner.predict_proba(model, [t], device="cpu")[0] for t in TEXTS[:6]])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert len(set(np.round(batched, 4))) > 1, "different rows get different predictions"
    before = HFLearner(checkpoints[family], 64).load_model("cpu", bf16=False)
    assert any(not torch.equal(a, b) for a, b in zip(before.parameters(), model.parameters(), strict=True))


def test_fits_are_the_same_per_seed(checkpoints: dict[str, Path]) -> None:
    learner = HFLearner(checkpoints["llama"], 64)

    def probs(seed: int) -> np.ndarray:
        return learner.predict_proba(
            learner.fit(TEXTS, TARGETS, recipe=RECIPE, seed=seed, device="cpu"), TEXTS, device="cpu"
        )

    np.testing.assert_array_equal(probs(1), probs(1))
    assert not np.array_equal(probs(1), probs(2))


class OomLearner(HFLearner):
    """Runs out of memory on any micro-batch above ``cap`` padded tokens, as a small GPU would."""

    cap = 130
    refused = 0

    def _forward(self, model: Any, toks: Tokens, device: str) -> Forward:
        inner: Forward = super()._forward(model, toks, device)

        def forward(idx: torch.Tensor, hidden: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
            width = int(toks.lengths[idx.numpy()].max())
            if len(idx) * width > self.cap:
                OomLearner.refused += 1
                raise torch.OutOfMemoryError(f"tried {len(idx) * width} tokens, cap {self.cap}")
            return inner(idx, hidden)

        return forward


def test_out_of_memory_halves_the_micro_batch_and_keeps_the_effective_batch(
    checkpoints: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    texts = TEXTS[:12]
    targets = TARGETS[:12]
    recipe = Recipe(epochs=1, lr=3e-3, batch_size=12)
    plain = HFLearner(checkpoints["llama"], 64)
    reference = plain.predict_proba(plain.fit(texts, targets, recipe=recipe, seed=0, device="cpu"), texts, device="cpu")
    learner = OomLearner(checkpoints["llama"], 64)
    with caplog.at_level(logging.WARNING, logger="aar.evaluator.compute.hf"):
        model = learner.fit(texts, targets, recipe=recipe, seed=0, device="cpu")
    assert OomLearner.refused >= 1
    lines = [r.getMessage() for r in caplog.records if "out of memory" in r.getMessage()]
    assert lines and all("effective batch is unchanged" in line for line in lines)
    assert len(lines) <= 4, "one line per halving, not one per batch"
    # Gradients accumulate over the smaller micro-batches: one optimizer step on the same 12 rows;
    # prediction backs off the same way.
    np.testing.assert_allclose(learner.predict_proba(model, texts, device="cpu"), reference, atol=1e-4)


def test_out_of_memory_on_a_single_row_is_raised(checkpoints: dict[str, Path]) -> None:
    learner = OomLearner(checkpoints["llama"], 64)
    learner.cap = 5
    with pytest.raises(torch.OutOfMemoryError):
        learner.fit(TEXTS, TARGETS, recipe=RECIPE, seed=0, device="cpu")


def test_bf16_autocast_on_the_cpu_keeps_fp32_weights(
    checkpoints: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    learner = HFLearner(checkpoints["qwen2"], 64, training=TrainingConfig(max_length=64, precision="bf16"))
    seen: set[torch.dtype] = set()

    def hook(_module: torch.nn.Module, _args: object, output: torch.Tensor) -> None:
        seen.add(output.dtype)

    original = learner.load_model

    def load_model(device: str, *, bf16: bool) -> Any:
        model = original(device, bf16=bf16)
        model.model.layers[0].mlp.down_proj.register_forward_hook(hook)
        return model

    monkeypatch.setattr(learner, "load_model", load_model)
    model = learner.fit(TEXTS, TARGETS, recipe=RECIPE, seed=0, device="cpu")
    assert seen == {torch.bfloat16}, "matmuls ran in bf16 under autocast"
    assert {p.dtype for p in model.parameters()} == {torch.float32}, "master weights stay fp32"
    probs = learner.predict_proba(model, TEXTS, device="cpu")
    assert np.isfinite(probs).all() and ((probs > 0) & (probs < 1)).all()


def test_lora_trains_adapters_and_the_head_only(checkpoints: dict[str, Path]) -> None:
    options = ModelTrainingConfig(lora=True, lora_rank=4, grad_checkpointing=True, grad_accum=2)
    learner = HFLearner(checkpoints["llama"], 64, options=options)
    model = learner.fit(TEXTS, TARGETS, recipe=RECIPE, seed=0, device="cpu")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "score" in n for n in trainable)
    assert any("lora_" in n for n in trainable) and any("score" in n for n in trainable)
    assert model.base_model.model.is_activation_checkpointing
    probs = learner.predict_proba(model, TEXTS, device="cpu")
    assert np.isfinite(probs).all()


def test_defaults_follow_the_model_size() -> None:
    training = TrainingConfig()
    small = choose(ModelTrainingConfig(), training, 500_000_000, "cuda")
    big = choose(ModelTrainingConfig(), training, 4_000_000_000, "cuda")
    huge = choose(ModelTrainingConfig(), training, 8_000_000_000, "cuda")
    assert not small.grad_checkpointing and not small.lora and small.bf16 and small.fused_adamw
    assert big.grad_checkpointing and not big.lora
    assert huge.lora
    cpu = choose(ModelTrainingConfig(grad_checkpointing=False, grad_accum=4), training, 4_000_000_000, "cpu")
    assert not cpu.grad_checkpointing and cpu.grad_accum == 4 and not cpu.bf16 and not cpu.fused_adamw


def test_each_split_is_tokenized_once_in_memory_and_on_disk(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    tok = tokens.load_tokenizer(checkpoints["gpt2"])
    calls = []

    class Counting:
        def __init__(self, inner: Callable[..., object]) -> None:
            self.inner = inner

        def __call__(self, *args: object, **kwargs: object) -> object:
            calls.append(1)
            return self.inner(*args, **kwargs)

    counted = Counting(tok)
    key = tokens.tokenizer_key(checkpoints["gpt2"], tok)
    texts = [f"row {i} " + "x" * i for i in range(30)]
    first = tokens.tokenize(counted, key, texts, 64, folder=tmp_path)
    assert calls == [1]
    again = tokens.tokenize(counted, key, texts, 64, folder=tmp_path)
    assert calls == [1] and again is first
    tokens._memory.clear()  # a restarted worker: read back from disk
    from_disk = tokens.tokenize(counted, key, texts, 64, folder=tmp_path)
    assert calls == [1] and np.array_equal(from_disk.flat, first.flat)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    tokens.tokenize(counted, key, texts, 16, folder=tmp_path)
    assert len(calls) > 1, "another max_length is another tokenization"


def test_rows_longer_than_max_length_are_truncated_and_counted(
    checkpoints: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    texts = ["short", "y " * 40, "z " * 30, "w " * 10]
    learner = HFLearner(checkpoints["bert"], 24)
    METER.reset()
    with caplog.at_level(logging.WARNING, logger="aar.evaluator.compute.hf"):
        toks = learner.tokens(texts, "train_unlabel")
    assert toks.truncated == 2 and toks.lengths.max() == 24 and toks.lengths[3] == 12
    assert "train_unlabel: 2 of 4 rows are longer than max_length 24 tokens and were truncated" in caplog.text
    assert METER.snapshot().truncated_rows == 2
    ids, _ = toks.pad(np.array([1]), 0)
    tok = tokens.load_tokenizer(checkpoints["bert"])
    assert ids[0, -1] == tok.sep_token_id, "truncation keeps the closing special token"


def test_a_tokenizer_without_pad_or_eos_is_one_clear_line(tmp_path: Path) -> None:
    folder = hf_models.checkpoint(tmp_path / "llama", "llama", eos_token=None)
    with pytest.raises(AarError, match=r"neither a pad nor an eos token; set \"pad_token\" in its tokenizer_config"):
        HFLearner(folder, 64).fit(TEXTS, TARGETS, recipe=RECIPE, seed=0, device="cpu")


def test_training_throughput_is_counted(checkpoints: dict[str, Path]) -> None:
    METER.reset()
    learner = HFLearner(checkpoints["gpt2"], 64)
    learner.fit(TEXTS, TARGETS, recipe=RECIPE, seed=0, device="cpu")
    stats = METER.snapshot()
    lengths = learner.tokens(TEXTS).lengths
    assert stats.examples == 2 * len(TEXTS)
    assert stats.real_tokens == 2 * int(lengths.sum())
    assert stats.real_tokens < stats.padded_tokens <= 2 * len(TEXTS) * int(lengths.max())
    summary = stats.summary()
    assert summary.examples_per_s > 0 and summary.tokens_per_s > 0 and 0 < summary.padding_share < 1
    assert summary.peak_memory_mb > 10 and summary.memory_kind == "rss" and summary.mfu is None
