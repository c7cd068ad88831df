"""``MLPLearner``: the toy task's models, a linear model or a one-hidden-layer MLP on float features.

Its hidden states are ``[input, hidden layer]`` (just ``[input]`` for the linear model): ``embed``'s
``layer`` indexes them, and a loss that wants hidden states gets the last. The frozen "checkpoint"
of the toy has no weights: its features are the strong view itself.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from evaluator.compute.tasks.base import Inputs, Learner, LossFn, MethodError, Progress, Recipe


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
        columns: dict[str, np.ndarray] | None = None,
        hooks: Any = None,
        init: Any = None,
    ) -> Any:
        import torch

        from evaluator.compute.training import fit_loop

        torch.manual_seed(seed)
        dim = np.asarray(x).shape[1]
        if init is not None:
            model = copy.deepcopy(init).to(device)
            if model[0].in_features != dim:
                raise MethodError(f"init was trained on {model[0].in_features} features; these inputs have {dim}")
        else:
            layers: list[torch.nn.Module] = [torch.nn.Linear(dim, 2)]
            if self.hidden:
                layers = [torch.nn.Linear(dim, self.hidden), torch.nn.ReLU(), torch.nn.Linear(self.hidden, 2)]
            model = torch.nn.Sequential(*layers).to(device)
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)

        def forward(idx: torch.Tensor, hidden: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
            rows = xt[idx.to(device)]
            h = model[:-1](rows)
            return model[-1](h), (h if hidden else None)

        return fit_loop(
            model,
            forward,
            targets,
            recipe=recipe,
            seed=seed,
            device=device,
            loss=loss,
            weights=weights,
            columns=columns,
            progress=progress,
            hooks=hooks,
        )

    def predict_proba(self, model: Any, x: Inputs, *, device: str) -> np.ndarray:
        import torch

        from evaluator.compute.training import predict_loop

        xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
        return predict_loop(lambda idx: model(xt[idx.to(device)]), len(xt))

    def logits(self, model: Any, x: Inputs, *, device: str) -> np.ndarray:
        import torch

        with torch.no_grad():
            out: np.ndarray = (
                model(torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)).float().cpu().numpy()
            )
        return out

    def embed(self, model: Any, x: Inputs, *, device: str, layer: int = -1) -> np.ndarray:
        import torch

        features = np.asarray(x, dtype=np.float32)
        states = 1 if model is None or len(model) == 1 else 2
        if not -states <= layer < states:
            raise MethodError(
                f"layer {layer} is out of range: this model has {states} hidden state(s), layers {-states}..{states - 1}"
            )
        if model is None or layer % states == 0:
            return features.copy()
        with torch.no_grad():
            out: np.ndarray = model[:-1](torch.as_tensor(features, device=device)).float().cpu().numpy()
        return out
