"""Confidence-window loss: weak labels inside a window of doubt, the student's own hard label outside it.

Once past ``warmup``, an example whose student prediction lies outside ``[0.5 - window, 0.5 + window]``
is trained toward the student's hardened label, and one inside toward its weak label (the weak label is
passed beside the target as a column). Unlike the confidence loss, which mixes both targets for every
example with a batch quantile, the window trusts the student only where it is sure, and nowhere else.
A variant of the auxiliary confidence loss studied in the AAR study's released code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evaluator.compute.context import MethodContext
from evaluator.compute.loss import Loss, LossBatch

if TYPE_CHECKING:
    import torch


class WindowLoss(Loss):
    def __init__(self, window: float, warmup: float) -> None:
        if not 0 <= window < 0.5:
            raise ValueError(f"window must be in [0, 0.5); got {window}")
        self.window = window
        self.warmup = warmup

    def __call__(self, batch: LossBatch) -> torch.Tensor:
        from evaluator.compute.training import soft_ce

        weak = batch.columns["weak"]
        if batch.progress < self.warmup:
            return soft_ce(batch.logits, weak)
        p = batch.probs
        sure = (p - 0.5).abs() > self.window
        target = weak.clone()
        target[sure] = (p[sure] > 0.5).float()
        return soft_ce(batch.logits, target)


def run(ctx: MethodContext, *, window: float = 0.3, warmup: float = 0.3, epochs: float | None = None) -> np.ndarray:
    student = ctx.fit(ctx.weak_probs, loss=WindowLoss(window, warmup), columns={"weak": ctx.weak_probs}, epochs=epochs)
    return student.predict_proba()
