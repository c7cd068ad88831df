"""Auxiliary confidence loss (Burns et al., 2023): trust the student's own confident predictions.

The loss mixes cross-entropy to the weak labels with cross-entropy to the
student's own hardened predictions; the mixing weight ramps linearly from 0
to ``aux_weight`` over the first ``warmup`` fraction of training, so the
student first learns what the weak labels agree on and then stops copying
the weak model where it is confident it knows better. The hardening
threshold adapts per batch so the share of 1s matches the weak labels'.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evaluator.compute.context import MethodContext


def aux_loss(aux_weight: float, warmup: float) -> Any:
    """The per-example loss as a ``LossFn`` (torch loads only when it runs)."""
    import torch

    from evaluator.compute.training import soft_ce

    def loss(logits: torch.Tensor, targets: torch.Tensor, progress: float) -> torch.Tensor:
        weight = aux_weight * (min(1.0, progress / warmup) if warmup > 0 else 1.0)
        base = soft_ce(logits, targets)
        if weight == 0:
            return base
        probs = torch.softmax(logits.detach(), dim=-1)[:, 1]
        share = float((targets > 0.5).float().mean())
        threshold = torch.quantile(probs, min(max(1.0 - share, 0.0), 1.0))
        own = (probs > threshold).float()
        return (1 - weight) * base + weight * soft_ce(logits, own)

    return loss


def run(
    ctx: MethodContext, *, aux_weight: float = 0.75, warmup: float = 0.2, epochs: float | None = None
) -> np.ndarray:
    return ctx.fit(ctx.weak_probs, loss=aux_loss(aux_weight, warmup), epochs=epochs).predict_proba()
