"""The method API on tiny Hugging Face checkpoints (GPT-2, Llama, Qwen2 and BERT shapes built from their
configs): the strong model's features and prompts, a student's, and batch statistics that hold across
gradient accumulation and an out-of-memory halving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aar.config import ModelTrainingConfig
from evaluator.compute.hf.learner import HFLearner
from evaluator.compute.loss import LossBatch
from evaluator.compute.methods.confidence import AuxLoss
from evaluator.compute.tasks.base import MethodError, Recipe
from tests.evaluator import hf_models
from tests.evaluator.test_hf_learner import TARGETS, TEXTS, OomLearner

pytestmark = pytest.mark.slow  # HF models


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {f: hf_models.checkpoint(root / f, f) for f in hf_models.FAMILIES}


@pytest.mark.parametrize("family", hf_models.FAMILIES)
def test_embed_gives_per_example_features_of_the_frozen_checkpoint(family: str, checkpoints: dict[str, Path]) -> None:
    learner = HFLearner(checkpoints[family], 64)
    backbone_width = learner.load_model("cpu", bf16=False).config.hidden_size
    features = learner.embed(None, TEXTS[:6], device="cpu")
    assert features.shape == (6, backbone_width) and np.isfinite(features).all()
    assert len({tuple(np.round(row, 5)) for row in features}) == 6, "different texts, different features"
    # A row's features do not depend on the padding of its batch.
    alone = np.stack([learner.embed(None, [t], device="cpu")[0] for t in TEXTS[:6]])
    np.testing.assert_allclose(features, alone, atol=1e-4)
    first = learner.embed(None, TEXTS[:6], device="cpu", layer=0)
    assert not np.allclose(first, features), "layer 0 is the embeddings' output"
    with pytest.raises(MethodError, match=r"layer 9 is out of range: .* has 3 hidden states, layers -3..2"):
        learner.embed(None, TEXTS[:2], device="cpu", layer=9)


def test_a_student_embeds_and_gives_logits(checkpoints: dict[str, Path]) -> None:
    learner = HFLearner(checkpoints["llama"], 64)
    model = learner.fit(TEXTS, TARGETS, recipe=Recipe(epochs=1, lr=3e-3, batch_size=8), seed=0, device="cpu")
    logits = learner.logits(model, TEXTS[:5], device="cpu")
    assert logits.shape == (5, 2)
    np.testing.assert_allclose(
        torch.softmax(torch.as_tensor(logits), -1)[:, 1].numpy(),
        learner.predict_proba(model, TEXTS[:5], device="cpu"),
        atol=1e-6,
    )
    trained = learner.embed(model, TEXTS[:5], device="cpu")
    frozen = learner.embed(None, TEXTS[:5], device="cpu")
    assert trained.shape == frozen.shape and not np.allclose(trained, frozen, atol=1e-4), "fine-tuning moved them"


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_zero_shot_scores_each_label_word(family: str, checkpoints: dict[str, Path]) -> None:
    learner = HFLearner(checkpoints[family], 64)
    scores = learner.zero_shot(TEXTS[:3], "Review: {x}\nSentiment:", [" good", " bad"], device="cpu")
    assert scores.shape == (3, 2) and np.isfinite(scores).all() and (scores < 0).all()
    assert not np.allclose(scores[:, 0], scores[:, 1]), "the two words get their own log-probabilities"
    with pytest.raises(MethodError, match="must contain"):
        learner.zero_shot(TEXTS[:1], "no slot", ["a"], device="cpu")


def test_zero_shot_on_an_encoder_is_one_line(checkpoints: dict[str, Path]) -> None:
    learner = HFLearner(checkpoints["bert"], 64)
    with pytest.raises(MethodError, match=r"zero_shot needs a causal-LM .* is a bert encoder: probe ctx.embed"):
        learner.zero_shot(TEXTS[:1], "{x}", ["yes"], device="cpu")


class Thresholds(AuxLoss):
    def __init__(self) -> None:
        super().__init__(aux_weight=0.5, warmup=0.0)
        self.thresholds: list[float] = []

    def statistics(self, batch: LossBatch) -> dict[str, torch.Tensor]:
        stats = super().statistics(batch)
        self.thresholds.append(float(stats["threshold"]))
        return stats


def test_batch_statistics_hold_across_grad_accum_and_an_out_of_memory_halving(checkpoints: dict[str, Path]) -> None:
    recipe = Recipe(epochs=1, lr=3e-3, batch_size=12)
    texts, targets = TEXTS[:24], TARGETS[:24]

    def thresholds(learner: HFLearner) -> list[float]:
        loss = Thresholds()
        learner.fit(texts, targets, recipe=recipe, seed=0, device="cpu", loss=loss)
        return loss.thresholds

    whole = thresholds(HFLearner(checkpoints["llama"], 64))
    accumulated = thresholds(HFLearner(checkpoints["llama"], 64, options=ModelTrainingConfig(grad_accum=4)))
    OomLearner.refused = 0
    halved = thresholds(OomLearner(checkpoints["llama"], 64))
    assert OomLearner.refused >= 1, "the small device ran out of memory and halved"
    assert len(whole) == 2, "one threshold per optimizer step"
    np.testing.assert_allclose(accumulated, whole, atol=1e-5)
    np.testing.assert_allclose(halved, whole, atol=1e-5)
