"""Bootstrapping (self-training): a short student relabels the data, a fresh student learns from both.

A student trained briefly on weak labels has learned what is easy for it
and not yet memorised the weak errors; its confident predictions replace the
weak labels where they disagree, and each round trains a fresh student on
the mix.
"""

from __future__ import annotations

import numpy as np

from evaluator.compute.context import MethodContext


def run(
    ctx: MethodContext,
    *,
    rounds: int = 2,
    round_epochs: float = 3.0,
    trust: float = 0.8,
    epochs: float | None = None,
) -> np.ndarray:
    """``trust`` is the weight of the student's own hardened label in the next targets."""
    targets = ctx.weak_probs
    for r in range(rounds):
        own = ctx.fit(targets, epochs=round_epochs, seed_offset=r + 1).predict_train()
        targets = trust * (own > 0.5) + (1 - trust) * ctx.weak_probs
        ctx.log(
            f"bootstrap round {r + 1}: student disagrees with weak labels on {np.mean((own > 0.5) != ctx.weak_labels):.1%}"
        )
    return ctx.fit(targets, epochs=epochs).predict_proba()
