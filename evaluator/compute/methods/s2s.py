"""Strong-to-strong iterations: students relabel each other's half of the data, round after round.

The training rows are split into two halves. In each round, a student trained on one half's current
labels relabels the other half, and the other way round (cross-fitting: no student labels rows it was
trained on, so it cannot pass on what it memorised there). The new labels mix the student's hardened
label with the weak label (``trust``). A last student trains on every row's labels. After the strong-
to-strong training of EleutherAI's w2s and the iterated self-distillation of the W2S literature.
"""

from __future__ import annotations

import numpy as np

from evaluator.compute.context import MethodContext


def run(
    ctx: MethodContext,
    *,
    rounds: int = 2,
    round_epochs: float | None = None,
    trust: float = 0.7,
    epochs: float | None = None,
) -> np.ndarray:
    n = ctx.n_train
    order = ctx.rng(7).permutation(n)
    halves = (np.sort(order[: n // 2]), np.sort(order[n // 2 :]))
    targets = np.asarray(ctx.weak_probs, dtype=np.float64)
    for r in range(rounds):
        relabelled = targets.copy()
        for i, (train, other) in enumerate((halves, halves[::-1])):
            # Each half has half the rows: the same number of optimiser steps as a full fit takes twice the epochs.
            base = round_epochs if round_epochs is not None else ctx.recipe.epochs
            student = ctx.fit(targets, idx=train, epochs=2 * base, seed_offset=10 * r + i + 1)
            own = student.predict_proba(_rows(ctx.train_x, other))
            relabelled[other] = trust * (own > 0.5) + (1 - trust) * ctx.weak_probs[other]
        moved = np.mean((relabelled > 0.5) != (targets > 0.5))
        ctx.log(f"s2s round {r + 1}: {moved:.1%} of labels changed side")
        targets = relabelled
    return ctx.fit(targets, epochs=epochs).predict_proba()


def _rows(x: object, idx: np.ndarray) -> object:
    if isinstance(x, np.ndarray):
        return x[idx]
    return [x[int(i)] for i in idx]  # type: ignore[index]  # a list of texts
