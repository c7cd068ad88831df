"""Confident-label filtering: train only on the weak labels the weak model is most sure of.

Weak errors concentrate where the weak model hesitates, so dropping the
least confident labels removes more wrong labels than right ones.
"""

from __future__ import annotations

import numpy as np

from evaluator.compute.context import MethodContext


def confident_subset(probs: np.ndarray, keep: float) -> np.ndarray:
    """Indices of the ``keep`` fraction of examples with the most confident labels."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    order = np.argsort(-np.abs(probs - 0.5), kind="stable")
    return np.sort(order[: max(1, round(keep * len(probs)))])


def run(ctx: MethodContext, *, keep: float = 0.5, hard: bool = True, epochs: float | None = None) -> np.ndarray:
    idx = confident_subset(ctx.weak_probs, keep)
    targets = ctx.weak_labels if hard else ctx.weak_probs
    ctx.log(f"filtering: kept {len(idx)} of {ctx.n_train} weak labels")
    # The same number of optimiser steps as vanilla, so the comparison is about the labels.
    scaled = (epochs or ctx.recipe.epochs) * ctx.n_train / len(idx)
    return ctx.fit(targets, idx=idx, epochs=scaled).predict_proba()
