"""Every reference method runs on the toy task and on tiny jsonl models (GPT-2, Llama and BERT shapes built
from their configs), through the same context a sandbox builds, and returns one probability per test input."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from evaluator.compute.context import MethodContext
from evaluator.compute.methods import REFERENCE_METHODS
from evaluator.compute.pipeline import make_context, public_view, run_method, train_weak
from evaluator.compute.tasks.toy import ToyParams, ToyTask
from tests.evaluator import hf_models

pytestmark = pytest.mark.slow  # trains several students per method

# Short recipes keep the suite fast; the library's numbers on the full toy are bench/methods.py's.
QUICK = {"epochs": 2.0}
NO_EPOCHS = {"cluster"}
"""Methods that train no student."""


def _quick(name: str) -> dict[str, float]:
    return {} if name in NO_EPOCHS else QUICK


@pytest.fixture(scope="module")
def toy_ctx() -> MethodContext:
    task = ToyTask(ToyParams(size=400, data_seed=0))
    data = task.load()
    return make_context(task, public_view(data), np.asarray(train_weak(task, data, 0, "cpu").train_probs), 0, "cpu")


def test_the_library_covers_the_public_codebases() -> None:
    expected = {"vanilla", "confidence", "filtering", "bootstrap", "product", "entropy", "window", "knn", "s2s"}
    assert expected | {"early_stop", "cluster"} <= set(REFERENCE_METHODS)


@pytest.mark.parametrize("name", REFERENCE_METHODS)
def test_each_method_runs_on_toy(name: str, toy_ctx: MethodContext) -> None:
    module = importlib.import_module(f"evaluator.compute.methods.{name}")
    probs = run_method(lambda ctx: module.run(ctx, **_quick(name)), toy_ctx)
    assert probs.shape == (len(toy_ctx.test_x),) and ((probs >= 0) & (probs <= 1)).all()
    if name not in NO_EPOCHS:  # a cluster named by weak majorities may name both clusters alike on a small draw
        assert 0.05 < (probs > 0.5).mean() < 0.95, "both classes predicted"


@pytest.fixture(scope="module")
def jsonl_contexts(tiny_hf: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, MethodContext]:
    from evaluator.compute.tasks.jsonl import JsonlTask

    root = tmp_path_factory.mktemp("strong")
    out = {}
    for family in ("gpt2", "llama", "bert"):
        strong = hf_models.checkpoint(root / family, family)
        task = JsonlTask(tiny_hf["data"], tiny_hf["weak"], strong)
        data = task.load()
        weak = train_weak(task, data, 0, "cpu")
        out[family] = make_context(
            task, public_view(data), np.asarray(weak.train_probs), 0, "cpu", weak_test_probs=weak.test_probs
        )
    return out


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
@pytest.mark.parametrize("name", REFERENCE_METHODS)
def test_each_method_runs_on_tiny_jsonl_models(
    name: str, family: str, jsonl_contexts: dict[str, MethodContext]
) -> None:
    ctx = jsonl_contexts[family]
    module = importlib.import_module(f"evaluator.compute.methods.{name}")
    quick = {} if name in NO_EPOCHS else {"epochs": 1.0}
    probs = run_method(lambda c: module.run(c, **quick), ctx)
    assert probs.shape == (len(ctx.test_x),) and np.isfinite(probs).all()
    assert ((probs >= 0) & (probs <= 1)).all()
