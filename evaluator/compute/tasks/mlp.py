"""``MLPLearner``: the toy task's models, a linear model or a one-hidden-layer MLP on float features."""

from __future__ import annotations

from typing import Any

import numpy as np

from evaluator.compute.tasks.base import Inputs, Learner, LossFn, Progress, Recipe


class MLPLearner(Learner):
    """A linear model (``hidden=0``) or a one-hidden-layer MLP on float features."""

    def __init__(self, hidden: int) -> None:
        self.hidden = hidden

    def fit(
        self,
        x: Inputs,
        targets: np.ndarray,
        *,
        recipe: Recipe,
        seed: int,
        device: str,
        loss: LossFn | None = None,
        weights: np.ndarray | None = None,
        progress: Progress | None = None,
    ) -> Any:
        import torch

        from evaluator.compute.training import fit_loop

        torch.manual_seed(seed)
        dim = np.asarray(x).shape[1]
        layers: list[torch.nn.Module] = [torch.nn.Linear(dim, 2)]
        if self.hidden:
            layers = [torch.nn.Linear(dim, self.hidden), torch.nn.ReLU(), torch.nn.Linear(self.hidden, 2)]
        model = torch.nn.Sequential(*layers).to(device)
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
        return fit_loop(
            model,
            lambda idx: model(xt[idx.to(device)]),
            targets,
            recipe=recipe,
            seed=seed,
            device=device,
            loss=loss,
            weights=weights,
            progress=progress,
        )

    def predict_proba(self, model: Any, x: Inputs, *, device: str) -> np.ndarray:
        import torch

        from evaluator.compute.training import predict_loop

        xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
        return predict_loop(lambda idx: model(xt[idx.to(device)]), len(xt))
