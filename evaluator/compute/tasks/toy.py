"""``toy``: a seeded synthetic weak-to-strong task that runs on two CPU cores in about a second.

Why it behaves like the real thing: the two classes are Gaussian clusters in
a latent space with a low-density gap along one direction. The weak model
sees a lossy, noisy view (a tilted projection of the latent plus noise), so
its errors are partly systematic and partly noise. The strong model sees
the latent (rotated) plus a noisy copy of the weak view, so the weak errors
are partly imitable: a student trained long on weak labels learns to copy
them, while methods that trust the student's own confident predictions
(confidence loss, self-training) or only the weak model's confident labels
(filtering) move the boundary back into the gap. Vanilla transfer lands
mid-range and there is headroom above it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evaluator.compute.tasks.base import Learner, Recipe, Split, Task, TaskData
from evaluator.compute.tasks.mlp import MLPLearner

DATA_VERSION = 1
"""Bump when the generator changes, so caches of older data are not reused."""


@dataclass(frozen=True)
class ToyParams:
    size: int = 4000
    """Examples in ``train_unlabel``; ``weak_train``, ``feedback`` and ``final`` get half as many."""
    latent_dim: int = 8
    margin: float = 2.5
    """Distance of each class mean from the boundary, in latent standard deviations."""
    weak_dim: int = 4
    weak_tilt: float = 0.6
    """Angle (radians) between the true direction and the weak view's best direction: systematic error."""
    weak_noise: float = 1.5
    """Noise added to the weak view: errors the strong model only sees through the copy."""
    copy_noise: float = 1.2
    """Noise on the copy of the weak view inside the strong view: lower means weak errors are easier to imitate."""
    copy_scale: float = 0.2
    """Scale of the copy relative to the clean latent: a smaller copy is learned later in training."""
    hidden: int = 64
    data_seed: int | None = 0
    """Seeds the data. A run draws a secret one (kept under ``evaluator_dir``) and public
    bundles carry None, so the held-out labels cannot be regenerated inside a sandbox."""


class ToyTask(Task):
    name = "toy"

    def __init__(
        self, params: ToyParams | None = None, *, strong_recipe: Recipe | None = None, weak_recipe: Recipe | None = None
    ) -> None:
        self.params = params or ToyParams()
        # Tuned at size 4000; other sizes keep the number of optimiser steps, which is what
        # decides how much of the weak errors a student memorises.
        scale = 4000 / self.params.size
        self.weak_recipe = weak_recipe or Recipe(epochs=10 * scale, lr=1e-2, batch_size=128, weight_decay=0.0)
        self.strong_recipe = strong_recipe or Recipe(epochs=20 * scale, lr=1e-2, batch_size=512, weight_decay=0.0)

    def identity(self) -> dict[str, Any]:
        return {
            "task": self.name,
            "version": DATA_VERSION,
            "params": asdict(self.params),
            "weak": self.weak_recipe.__dict__,
            "strong": self.strong_recipe.__dict__,
        }

    def bundle_spec(self, folder: Path) -> dict[str, Any]:
        spec = self.identity()
        spec["params"] = {**spec["params"], "data_seed": None}
        return spec

    @classmethod
    def from_bundle(cls, spec: dict[str, Any], folder: Path) -> ToyTask:
        return cls(
            ToyParams(**spec["params"]), weak_recipe=Recipe(**spec["weak"]), strong_recipe=Recipe(**spec["strong"])
        )

    # ------------------------------------------------------------ data

    def load(self) -> TaskData:
        p = self.params
        if p.data_seed is None:
            raise RuntimeError(
                "this toy task came from a public bundle: its data is in the bundle's files, not regenerated"
            )
        rng = np.random.default_rng(p.data_seed)
        d = p.latent_dim
        # The weak view: a tilted copy of the true direction, plus directions that carry nothing.
        proj = np.zeros((d, p.weak_dim))
        proj[0, 0], proj[1, 0] = np.cos(p.weak_tilt), np.sin(p.weak_tilt)
        for j in range(1, p.weak_dim):
            proj[1 + j, j] = 1.0
        rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
        sizes = {"weak_train": p.size // 2, "train_unlabel": p.size, "feedback": p.size // 2, "final": p.size // 2}
        splits: dict[str, Split] = {}
        for name, n in sizes.items():
            y = rng.integers(0, 2, n)
            z = rng.standard_normal((n, d))
            z[:, 0] += (2 * y - 1) * p.margin
            weak = z @ proj + p.weak_noise * rng.standard_normal((n, p.weak_dim))
            copy = weak + p.copy_noise * rng.standard_normal((n, p.weak_dim))
            strong = np.concatenate([z @ rotation, p.copy_scale * copy], axis=1)
            splits[name] = Split(name, weak.astype(np.float32), strong.astype(np.float32), y.astype(np.int64))
        return TaskData(splits)

    # ------------------------------------------------------------ models

    def weak_learner(self) -> Learner:
        return MLPLearner(hidden=0)

    def strong_learner(self) -> Learner:
        return MLPLearner(hidden=self.params.hidden)

    # ------------------------------------------------------------ bundle files

    def save_inputs(self, split: Split, folder: Path) -> list[str]:
        arrays: dict[str, Any] = {}
        if split.weak_x is not None:
            arrays["weak_x"] = split.weak_x
        if split.strong_x is not None:
            arrays["strong_x"] = split.strong_x
        path = folder / f"{split.name}.npz"
        np.savez(path, **arrays)
        return [path.name]

    def load_inputs(self, name: str, folder: Path) -> Split:
        with np.load(folder / f"{name}.npz") as f:
            return Split(name, f.get("weak_x"), f.get("strong_x"))
