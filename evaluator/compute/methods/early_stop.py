"""Early stopping by weak-label validation: keep the epoch whose student agrees best with held-back weak labels.

A share of the training rows (``holdout``) is held back. The student trains on the rest, and after
every epoch its log-likelihood of the held-back weak labels is measured; the best epoch's weights are
the ones returned (``best_by``), and training stops after ``patience`` epochs without improvement.
A student memorises the weak errors late in training, and it does so on its training rows first: the
held-back rows see the moment it starts (as in Burns et al.'s weak-label early stopping).
"""

from __future__ import annotations

import numpy as np

from evaluator.compute.context import MethodContext, Student
from evaluator.compute.hooks import TrainState


def run(ctx: MethodContext, *, holdout: float = 0.2, patience: int = 3, epochs: float | None = None) -> np.ndarray:
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be in (0, 1); got {holdout}")
    order = ctx.rng(11).permutation(ctx.n_train)
    cut = max(1, round(holdout * ctx.n_train))
    held, train = np.sort(order[:cut]), np.sort(order[cut:])
    held_x = ctx.train_x[held] if isinstance(ctx.train_x, np.ndarray) else [ctx.train_x[int(i)] for i in held]
    weak = np.clip(ctx.weak_probs[held], 1e-6, 1 - 1e-6)
    seen: dict[str, float] = {"stale": 0, "epoch": 0.0, "best": float("nan")}

    def agreement(student: Student) -> float:
        p = np.clip(student.predict_proba(held_x), 1e-6, 1 - 1e-6)
        return float(np.mean(weak * np.log(p) + (1 - weak) * np.log(1 - p)))

    def on_epoch(state: TrainState) -> None:
        improved = state.metric == state.best
        seen["stale"] = 0 if improved else seen["stale"] + 1
        seen["epoch"], seen["best"] = state.epoch, state.best if state.best is not None else float("nan")
        if seen["stale"] >= patience:
            state.stop()

    # The same number of optimiser steps as a fit on every row.
    scaled = (epochs or ctx.recipe.epochs) * ctx.n_train / len(train)
    student = ctx.fit(ctx.weak_probs, idx=train, epochs=scaled, best_by=agreement, on_epoch=on_epoch)
    ctx.log(
        f"early stop: ended at epoch {seen['epoch']:g} of {scaled:g}; "
        f"best held-out weak log-likelihood {seen['best']:.4f}"
    )
    return student.predict_proba()
