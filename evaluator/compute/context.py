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

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluator.compute.hooks import Callback, Hooks
from evaluator.compute.tasks.base import Inputs, Learner, LossFn, MethodError, Progress, Recipe


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

    def logits(self, x: Inputs | None = None) -> np.ndarray:
        """The two-class logits ``[n, 2]`` for ``x`` (default ``ctx.test_x``)."""
        return self.ctx.learner.logits(self.model, self.ctx.test_x if x is None else x, device=self.ctx.device)

    def embed(self, x: Inputs | None = None, *, layer: int = -1) -> np.ndarray:
        """The student's features ``[n, d]`` for ``x`` (default ``ctx.test_x``): the pooled hidden states of
        ``layer`` (jsonl), the hidden layer of the MLP (toy)."""
        return self.ctx.learner.embed(
            self.model, self.ctx.test_x if x is None else x, device=self.ctx.device, layer=layer
        )


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
    weak_test_probs: np.ndarray | None = None
    """The same weak model's P(y=1) for each row of ``test_x`` (for a retrained or ensembled weak
    model that must label the test inputs too); None in a bundle written without them."""
    weak_learner: Learner | None = None
    """The weak model family (the weak checkpoint, for jsonl), to fit on ``weak_x`` with weak labels."""
    progress: Progress | None = None
    """Set by the runner; ``fit`` reports through it."""
    logs: list[str] = field(default_factory=list)
    """Lines from ``log``, printed in the run summary."""
    started: float = field(default_factory=time.monotonic)
    _embeds: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)

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
        columns: dict[str, np.ndarray] | None = None,
        epochs: float | None = None,
        lr: float | None = None,
        batch_size: int | None = None,
        weight_decay: float | None = None,
        schedule: str | None = None,
        warmup: float | None = None,
        seed_offset: int = 0,
        x: Inputs | None = None,
        init: Student | None = None,
        on_step: Callback | None = None,
        on_epoch: Callback | None = None,
        best_by: Callable[[Student], float] | None = None,
    ) -> Student:
        """Train a strong model on ``targets`` (P(y=1) per row of ``train_x``, or of ``x``).

        ``idx`` trains on a subset of rows; ``weights`` weighs examples; ``loss`` replaces soft
        cross-entropy (an ``evaluator.compute.loss.Loss``, or ``loss(logits, targets, progress)``);
        ``columns`` are per-example arrays the loss reads as ``batch.columns[name]``; the recipe
        keywords (``schedule``: constant, linear or cosine, after ``warmup``, a share of the steps)
        override ``ctx.recipe``; ``seed_offset`` gives differently initialised students. ``init``
        continues training a copy of that student (warm start). ``on_step`` and ``on_epoch`` are
        called with a ``TrainState`` (``.student``, ``.stop()``); with ``best_by(student) -> float``
        the returned student is the epoch with the highest value.
        """
        inputs = self.train_x if x is None else x
        targets = np.asarray(targets, dtype=np.float64)
        if len(targets) != len(inputs):
            raise MethodError(f"targets has {len(targets)} values for {len(inputs)} inputs")
        for name, values in (columns or {}).items():
            if len(values) != len(inputs):
                raise MethodError(f"column {name!r} has {len(values)} values for {len(inputs)} inputs")
        if idx is not None:
            idx = np.asarray(idx)
            inputs = _take(inputs, idx)
            targets = targets[idx]
            weights = None if weights is None else np.asarray(weights)[idx]
            columns = None if columns is None else {k: np.asarray(v)[idx] for k, v in columns.items()}
        recipe = self.recipe.replace(
            epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, schedule=schedule, warmup=warmup
        )
        hooks = Hooks(
            on_step=on_step,
            on_epoch=on_epoch,
            best_by=best_by,
            wrap=lambda model: Student(model, self),
            log=self.log,
        )
        model = self.learner.fit(
            inputs,
            targets,
            recipe=recipe,
            seed=self.seed * 1009 + seed_offset,
            device=self.device,
            loss=loss,
            weights=weights,
            columns=columns,
            progress=self.progress,
            hooks=hooks,
            init=None if init is None else init.model,
        )
        return Student(model, self)

    def embed(self, x: Inputs | None = None, *, layer: int = -1) -> np.ndarray:
        """Features ``[n, d]`` of the frozen strong checkpoint for ``x`` (default ``train_x``): the
        mean-pooled hidden states of ``layer`` on jsonl, the strong view itself on toy. Cached per
        split: a second call on the same inputs costs a lookup."""
        inputs = self.train_x if x is None else x
        key = (_inputs_key(inputs), layer)
        found = self._embeds.get(key)
        if found is None:
            found = self.learner.embed(None, inputs, device=self.device, layer=layer)
            found.setflags(write=False)
            self._embeds[key] = found
        return found

    def zero_shot(self, x: Inputs, template: str, label_words: list[str]) -> np.ndarray:
        """The frozen strong model's log-probability of each label word after ``template`` filled with each
        input (``template.format(x=text)``): ``[n, len(label_words)]``. For causal-LM (decoder) checkpoints."""
        return self.learner.zero_shot(list(x), template, label_words, device=self.device)

    def log(self, message: str) -> None:
        """A line for the run summary (keep it short)."""
        self.logs.append(f"[{time.monotonic() - self.started:6.1f}s] {message}")


def _inputs_key(x: Inputs) -> str:
    """A digest of inputs: an array's bytes, or a list's texts."""
    digest = hashlib.sha256()
    if isinstance(x, np.ndarray):
        digest.update(f"{x.dtype}{x.shape}".encode())
        digest.update(np.ascontiguousarray(x).tobytes())
    else:
        for text in x:
            digest.update(str(text).encode("utf-8", "surrogatepass"))
            digest.update(b"\0")
    return digest.hexdigest()


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
