"""``MethodContext``: everything a weak-to-strong method may see and do.

A method is a Python file that defines ``run(ctx)`` and returns predictions
for ``ctx.test_x`` (the ``feedback`` inputs followed by the ``final`` inputs):
P(y=1) per input, 0/1 labels, or a ``Student`` (its ``predict_proba`` is used).
The evaluator thresholds at 0.5 and scores them itself; a method never sees a
ground-truth label of any split: it learns from the weak model's soft labels,
and may read the weak model's view of the inputs (its features). Which weak
model labels the data is the task's setting, not the method's. The same context is built inside an agent's sandbox (from the
public bundle, by ``python -m evaluator.compute.run_method``) and inside the
evaluator's worker, so a method behaves the same in both places.

    from evaluator.compute.methods import confidence

    def run(ctx):
        return confidence.run(ctx, aux_weight=0.75, warmup=0.2)

See evaluator/README.md for the full API with examples.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluator.compute.tasks.base import Inputs, Learner, LossFn, Progress, Recipe


@dataclass
class Student:
    """A trained strong model; ``predict_proba`` defaults to the test inputs."""

    model: Any
    ctx: MethodContext

    def predict_proba(self, x: Inputs | None = None) -> np.ndarray:
        """P(y=1) for ``x`` (default ``ctx.test_x``)."""
        return self.ctx.learner.predict_proba(self.model, self.ctx.test_x if x is None else x, device=self.ctx.device)

    def predict_train(self) -> np.ndarray:
        """P(y=1) on ``ctx.train_x`` (for self-training and filtering by the student's own view)."""
        return self.predict_proba(self.ctx.train_x)


@dataclass
class MethodContext:
    task: str
    """Task name (``toy`` or ``jsonl``)."""
    seed: int
    """The seed this run is scored under; the weak labels are this seed's."""
    device: str
    """Torch device, e.g. ``cpu`` or ``cuda``."""
    train_x: Inputs
    """Strong-model view of ``train_unlabel``: float32 array (toy) or list of texts (jsonl)."""
    weak_probs: np.ndarray
    """The weak model's P(y=1) for each row of ``train_x``."""
    test_x: Inputs
    """Strong-model view of ``feedback`` then ``final`` inputs; predict these."""
    n_feedback: int
    """How many leading rows of ``test_x`` are ``feedback`` (the rest are ``final``)."""
    weak_x: Inputs
    """Weak-model view of ``train_unlabel`` (row for row with ``train_x``): the weak model's features
    (toy), or the same texts the weak checkpoint reads (jsonl)."""
    weak_test_x: Inputs
    """Weak-model view of ``test_x``."""
    recipe: Recipe
    """The default strong-model training recipe (epochs, lr, batch_size, weight_decay)."""
    learner: Learner
    """The strong model family; ``fit`` below is the convenient way to use it."""
    weak_learner: Learner | None = None
    """The weak model family (the weak checkpoint, for jsonl), to fit on ``weak_x`` with weak labels."""
    progress: Progress | None = None
    """Set by the runner; ``fit`` reports through it."""
    logs: list[str] = field(default_factory=list)
    """Lines from ``log``, printed in the run summary."""
    started: float = field(default_factory=time.monotonic)

    @property
    def weak_labels(self) -> np.ndarray:
        """The weak labels hardened to 0/1."""
        return (self.weak_probs > 0.5).astype(np.int64)

    @property
    def n_train(self) -> int:
        return len(self.weak_probs)

    def rng(self, offset: int = 0) -> np.random.Generator:
        """A numpy generator seeded from ``seed`` (+ ``offset``), so runs are reproducible."""
        return np.random.default_rng(self.seed * 1_000_003 + offset)

    def fit(
        self,
        targets: np.ndarray,
        *,
        idx: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        loss: LossFn | None = None,
        epochs: float | None = None,
        lr: float | None = None,
        batch_size: int | None = None,
        weight_decay: float | None = None,
        seed_offset: int = 0,
        x: Inputs | None = None,
    ) -> Student:
        """Train a fresh strong model on ``targets`` (P(y=1) per row of ``train_x``, or of ``x``).

        ``idx`` trains on a subset of rows; ``weights`` weighs examples; ``loss`` replaces
        soft cross-entropy (see ``evaluator.compute.tasks.base.LossFn``); the recipe keywords
        override ``ctx.recipe``; ``seed_offset`` gives differently initialised students.
        """
        inputs = self.train_x if x is None else x
        targets = np.asarray(targets, dtype=np.float64)
        if len(targets) != len(inputs):
            raise ValueError(f"targets has {len(targets)} values for {len(inputs)} inputs")
        if idx is not None:
            idx = np.asarray(idx)
            inputs = _take(inputs, idx)
            targets = targets[idx]
            weights = None if weights is None else np.asarray(weights)[idx]
        recipe = self.recipe.replace(epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay)
        model = self.learner.fit(
            inputs,
            targets,
            recipe=recipe,
            seed=self.seed * 1009 + seed_offset,
            device=self.device,
            loss=loss,
            weights=weights,
            progress=self.progress,
        )
        return Student(model, self)

    def log(self, message: str) -> None:
        """A line for the run summary (keep it short)."""
        self.logs.append(f"[{time.monotonic() - self.started:6.1f}s] {message}")


def _take(x: Inputs, idx: np.ndarray) -> Inputs:
    if isinstance(x, np.ndarray):
        return x[idx]
    return [x[int(i)] for i in idx]


def as_test_probs(result: Any, ctx: MethodContext) -> np.ndarray:
    """What ``run`` returned, as P(y=1) per test input; a clear error when it does not fit."""
    if hasattr(result, "predict_proba"):
        result = result.predict_proba(ctx.test_x)
    try:
        probs = np.asarray(result, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(
            f"run(ctx) must return probabilities, 0/1 labels or a Student; got {type(result).__name__}"
        ) from None
    if len(probs) != len(ctx.test_x):
        raise ValueError(f"run(ctx) returned {len(probs)} predictions; ctx.test_x has {len(ctx.test_x)} inputs")
    if not np.all(np.isfinite(probs)) or probs.min(initial=0) < 0 or probs.max(initial=0) > 1:
        raise ValueError("run(ctx) must return values in [0, 1] (probabilities of label 1, or 0/1 labels)")
    return probs


MethodFn = Callable[[MethodContext], Any]
