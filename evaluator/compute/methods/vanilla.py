"""Naive transfer: train the strong model on the weak labels, as they are."""

from __future__ import annotations

import numpy as np

from evaluator.compute.context import MethodContext


def run(ctx: MethodContext, *, hard: bool = False, epochs: float | None = None, lr: float | None = None) -> np.ndarray:
    """``hard`` trains on 0/1 weak labels instead of the weak model's probabilities."""
    targets = ctx.weak_labels if hard else ctx.weak_probs
    return ctx.fit(targets, epochs=epochs, lr=lr).predict_proba()
