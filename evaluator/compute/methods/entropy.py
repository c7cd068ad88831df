"""Entropy loss (Grandvalet and Bengio's entropy minimisation, as in EleutherAI's w2s): weak labels, plus
a push toward confident predictions.

Cross-entropy to the weak labels plus ``weight`` times the entropy of the student's own prediction.
Low-entropy boundaries pass through low-density regions, so the student moves its boundary out of
the dense middle the weak model blurred. The weight ramps from 0 over the first ``warmup`` of
training. A class-balance term keeps the effective batch's mean prediction at the weak labels' share
(a statistic of the whole effective batch), so the push cannot collapse everything to one class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evaluator.compute.context import MethodContext
from evaluator.compute.loss import Loss, LossBatch

if TYPE_CHECKING:
    import torch


class EntropyLoss(Loss):
    def __init__(self, weight: float, warmup: float, balance: float) -> None:
        self.weight = weight
        self.warmup = warmup
        self.balance = balance

    def statistics(self, batch: LossBatch) -> dict[str, torch.Tensor]:
        return {"share": (batch.targets > 0.5).float().mean(), "mean": batch.probs.mean()}

    def __call__(self, batch: LossBatch) -> torch.Tensor:
        import torch

        from evaluator.compute.training import soft_ce

        ramp = min(1.0, batch.progress / self.warmup) if self.warmup > 0 else 1.0
        logp = torch.log_softmax(batch.logits, dim=-1)
        entropy = -(logp.exp() * logp).sum(dim=-1)
        # Gradient of (mean prediction - share)^2 through this example's prediction, at the batch's mean.
        p = logp[:, 1].exp()
        drift = (batch.stats["mean"] - batch.stats["share"]).detach()
        balance = 2 * drift * p
        return soft_ce(batch.logits, batch.targets) + self.weight * ramp * (entropy + self.balance * balance)


def run(
    ctx: MethodContext,
    *,
    weight: float = 0.5,
    warmup: float = 0.2,
    balance: float = 1.0,
    epochs: float | None = None,
) -> np.ndarray:
    return ctx.fit(ctx.weak_probs, loss=EntropyLoss(weight, warmup, balance), epochs=epochs).predict_proba()
