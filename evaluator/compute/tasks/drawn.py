"""``DrawnTask``: what the tasks on float features drawn from a secret seed share (``toy``, ``digits``).

Their data is drawn (or shuffled) from their parameters and the run's secret ``data_seed``; a public bundle
carries the parameters with the seed blanked and the inputs of each split as ``<split>.npz`` (both views,
never a label). The weak model is a linear model and the strong one an MLP of ``params.hidden`` units.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from evaluator.compute.tasks.base import Learner, Recipe, Split, Task
from evaluator.compute.tasks.mlp import MLPLearner


class DrawnTask(Task):
    params: Any
    """A frozen dataclass with ``hidden`` and ``data_seed`` (``ToyParams``, ``DigitsParams``)."""
    PARAMS: ClassVar[type]
    """The class of ``params``, which a bundle's spec rebuilds."""
    DATA_VERSION: ClassVar[int]
    """Bumped when the data drawn from the same parameters changes, so caches of older data are not reused."""

    def __init__(self, params: Any, *, strong_recipe: Recipe, weak_recipe: Recipe) -> None:
        self.params = params
        self.weak_recipe = weak_recipe
        self.strong_recipe = strong_recipe

    def identity_params(self) -> dict[str, Any]:
        """The parameters as the task's key sees them."""
        return asdict(self.params)

    def identity(self) -> dict[str, Any]:
        return {
            "task": self.name,
            "version": self.DATA_VERSION,
            "params": self.identity_params(),
            "weak": self.weak_recipe.__dict__,
            "strong": self.strong_recipe.__dict__,
        }

    def bundle_spec(self, folder: Path) -> dict[str, Any]:
        spec = self.identity()
        spec["params"] = {**spec["params"], "data_seed": None}
        return spec

    @classmethod
    def from_bundle(cls, spec: dict[str, Any], folder: Path) -> Self:
        params = cls.PARAMS(**spec["params"])
        return cls(params, weak_recipe=Recipe(**spec["weak"]), strong_recipe=Recipe(**spec["strong"]))

    def public_data_error(self) -> RuntimeError:
        return RuntimeError(
            f"this {self.name} task came from a public bundle: its data is in the bundle's files, not redrawn"
        )

    def weak_learner(self) -> Learner:
        return MLPLearner(hidden=0)

    def strong_learner(self) -> Learner:
        return MLPLearner(hidden=self.params.hidden)

    def save_inputs(self, split: Split, folder: Path) -> list[str]:
        """A split's inputs (both views, never its labels) as ``<split>.npz``."""
        arrays: dict[str, Any] = {}
        if split.weak_x is not None:
            arrays["weak_x"] = split.weak_x
        if split.strong_x is not None:
            arrays["strong_x"] = split.strong_x
        path = folder / f"{split.name}.npz"
        np.savez(path, **arrays)
        return [path.name]

    def load_inputs(self, name: str, folder: Path) -> Split:
        """What ``save_inputs`` wrote, without labels."""
        with np.load(folder / f"{name}.npz") as f:
            return Split(name, f.get("weak_x"), f.get("strong_x"))
