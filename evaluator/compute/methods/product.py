"""Product loss (EleutherAI's w2s): the target is the weak label times the student's own belief.

Each example's target distribution is proportional to ``weak^1 * student^alpha`` (the student's
probabilities detached), renormalised, and the student is trained toward it by cross-entropy. Where
the student is confident and the weak label hesitates, the product leans to the student; where both
agree, it sharpens. ``alpha`` ramps from 0 (plain weak labels) over the first ``warmup`` of training,
so the student first learns what the weak labels agree on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evaluator.compute.context import MethodContext
from evaluator.compute.loss import Loss, LossBatch

if TYPE_CHECKING:
    import torch


class ProductLoss(Loss):
    def __init__(self, alpha: float, warmup: float) -> None:
        self.alpha = alpha
        self.warmup = warmup

    def __call__(self, batch: LossBatch) -> torch.Tensor:
        import torch

        from evaluator.compute.training import soft_ce

        ramp = min(1.0, batch.progress / self.warmup) if self.warmup > 0 else 1.0
        student = batch.probs.clamp(1e-6, 1 - 1e-6)
        power = self.alpha * ramp
        one = batch.targets * student**power
        zero = (1 - batch.targets) * (1 - student) ** power
        target = one / (one + zero).clamp_min(1e-12)
        return soft_ce(batch.logits, torch.nan_to_num(target.detach(), nan=0.5))


def run(ctx: MethodContext, *, alpha: float = 1.0, warmup: float = 0.2, epochs: float | None = None) -> np.ndarray:
    return ctx.fit(ctx.weak_probs, loss=ProductLoss(alpha, warmup), epochs=epochs).predict_proba()
