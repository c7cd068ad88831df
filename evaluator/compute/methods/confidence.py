"""Auxiliary confidence loss (Burns et al., 2023): trust the student's own confident predictions.

The loss mixes cross-entropy to the weak labels with cross-entropy to the
student's own hardened predictions; the mixing weight ramps linearly from 0
to ``aux_weight`` over the first ``warmup`` fraction of training, so the
student first learns what the weak labels agree on and then stops copying
the weak model where it is confident it knows better. The hardening
threshold adapts per effective batch so the share of 1s matches the weak labels'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evaluator.compute.context import MethodContext
from evaluator.compute.loss import Loss, LossBatch

if TYPE_CHECKING:
    import torch


class AuxLoss(Loss):
    """Cross-entropy to the weak labels mixed with cross-entropy to the student's own hardened predictions.

    The hardening threshold is a statistic of the effective batch (not of a micro-batch), so it is the
    same whatever ``grad_accum`` or an out-of-memory halving does.
    """

    def __init__(self, aux_weight: float, warmup: float) -> None:
        self.aux_weight = aux_weight
        self.warmup = warmup

    def weight(self, progress: float) -> float:
        return self.aux_weight * (min(1.0, progress / self.warmup) if self.warmup > 0 else 1.0)

    def statistics(self, batch: LossBatch) -> dict[str, torch.Tensor]:
        import torch

        share = float((batch.targets > 0.5).float().mean())
        return {"threshold": torch.quantile(batch.probs, min(max(1.0 - share, 0.0), 1.0))}

    def __call__(self, batch: LossBatch) -> torch.Tensor:
        from evaluator.compute.training import soft_ce

        base = soft_ce(batch.logits, batch.targets)
        weight = self.weight(batch.progress)
        if weight == 0:
            return base
        own = (batch.probs > batch.stats["threshold"]).float()
        return (1 - weight) * base + weight * soft_ce(batch.logits, own)


def aux_loss(aux_weight: float, warmup: float) -> AuxLoss:
    """The loss for ``ctx.fit(loss=...)``."""
    return AuxLoss(aux_weight, warmup)


def run(
    ctx: MethodContext, *, aux_weight: float = 0.75, warmup: float = 0.2, epochs: float | None = None
) -> np.ndarray:
    return ctx.fit(ctx.weak_probs, loss=aux_loss(aux_weight, warmup), epochs=epochs).predict_proba()
