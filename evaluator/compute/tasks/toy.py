"""``toy``: a seeded synthetic weak-to-strong task that runs on two CPU cores in about a second.

The data: a latent space where the label is the side of a boundary a point
falls on (``threshold_labels``: no Bayes error, so the ceiling is near 1).
Along the true direction the density is a mixture of two unit Gaussians at
``+-margin``, a shallow dip at the boundary rather than a gap; along a second
direction that carries nothing, each class has ``modes`` modes, paired across
the boundary and ``mode_spread`` apart. The weak model (linear) sees a lossy
view: a projection tilted by ``weak_tilt`` from the true direction, plus
noise. The strong model (an MLP) sees the latent, rotated, plus a small,
noisy copy of the weak view.

Why vanilla lands mid-range: the weak errors are part noise and part tilt.
The strong model sees the weak noise only through the faint, noisy copy, so a
student trained on weak labels learns the clean latent first and imitates the
noise only partly, and later; the tilt it imitates fully, since a tilted
boundary is as easy to draw in the latent as the true one.

Why clusters no longer give the answer: the strong view's largest structure
is the modes, ``mode_spread`` = 4 apart along a direction that carries nothing,
so two k-means clusters split along the modes and each holds both classes
about equally (``methods.cluster`` with k=2 scores near chance, PGR far below
0); and the class boundary crosses a shallow dip, not a gap, so k-means cells
of any size straddle it and weak labels that name them inherit the tilt
(k=8 recovers a quarter to a half of the gap, well below self-training).

What bounds the best method: methods that trust the student's own confident
predictions (confidence loss, self-training) or neighbours in the strong view
(kNN) remove the noise part of the weak errors, and can rotate the boundary
only as far as the shallow dip pulls it; the tilted boundary is a clean
function of the strong view, as plausible as the true one without a label to
tell them apart, so its errors away from the dip stay (self-training, the
best reference method, recovers about three quarters of the gap).

``VARIANTS`` names parameter sets: ``default`` (the above) and ``classic``
(version 1's task: one Gaussian per class, ``margin`` 2.5 apart from the
boundary with a wide gap and labels by Gaussian, where naming two k-means
clusters by weak majority recovers about 0.9 of the gap, and self-training
0.8). Three more move the source of the weak errors, so that a method's gain
on one is a question on the others (transfer targets):

- ``tilt``: twice the tilt (0.6 rad) and well under half the noise (0.6). The
  weak errors are now mostly systematic, a clean boundary in the strong view,
  so what removes noise gains less, and self-training, which amplifies the
  student's own tilted boundary, falls from first to vanilla's level (PGR
  0.26 against 0.28), below the confidence loss (0.48) and kNN (0.44).
- ``imbalanced``: a fifth of the examples drawn positive (``positive_share``;
  a quarter labelled positive). The weak model's errors lean to the majority
  class through its bias; kNN's neighbour vote, where a minority row near the
  boundary has more majority neighbours, gains nothing over vanilla (0.20
  against 0.25), and self-training swings from seed to seed (0.44, CI 0.28 to
  0.59); the confidence loss leads (0.51).
- ``wide``: a latent of 96 directions instead of 8 (a 100-dimensional strong
  view; the weak view keeps its 4). The 88 extra directions carry nothing, as
  the spare ones already did, but give the student room to memorise the weak
  noise: vanilla recovers less (0.17), and what keeps the student off the
  noisy rows gains most (filtering 0.67, from 0.31 on ``default``; the
  confidence window 0.67).

(PGRs: bench/methods.py, 5 seeds, ``feedback``.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from evaluator.compute.tasks.base import Recipe, Split, TaskData
from evaluator.compute.tasks.drawn import DrawnTask

DATA_VERSION = 2
"""Bump when the generator changes, so caches of older data are not reused."""


@dataclass(frozen=True)
class ToyParams:
    """The generator's knobs; the defaults are the ``default`` variant (see ``VARIANTS``)."""

    size: int = 4000
    """Examples in ``train_unlabel``; ``weak_train``, ``feedback`` and ``final`` get half as many."""
    latent_dim: int = 8
    margin: float = 1.5
    """Distance of each class's Gaussian from the boundary, in latent standard deviations (above 1: a dip)."""
    weak_dim: int = 4
    weak_tilt: float = 0.3
    """Angle (radians) between the true direction and the weak view's best direction: systematic error."""
    weak_noise: float = 1.5
    """Noise added to the weak view: errors the strong model only sees through the copy."""
    copy_noise: float = 1.6
    """Noise on the copy of the weak view inside the strong view: lower means weak errors are easier to imitate."""
    copy_scale: float = 0.1
    """Scale of the copy relative to the clean latent: a smaller copy is learned later in training."""
    modes: int = 3
    """Modes per class, paired across the boundary and spaced along a latent direction that carries nothing."""
    mode_spread: float = 4.0
    """Distance between neighbouring modes, in latent standard deviations."""
    threshold_labels: bool = True
    """Label a point by the side of the boundary it falls on (no Bayes error; the Gaussians only shape the
    density); False labels it by the Gaussian it was drawn from."""
    positive_share: float = 0.5
    """Share of examples drawn from the positive class's Gaussian: below 0.5, a class prior the weak model
    and the student learn, and weak errors that lean to the majority class."""
    hidden: int = 64
    data_seed: int | None = 0
    """Seeds the data. A run draws a secret one (kept under ``evaluator_dir``) and public
    bundles carry None, so the held-out labels cannot be regenerated inside a sandbox."""

    @classmethod
    def variant(cls, name: str, **changes: Any) -> ToyParams:
        """The parameters of a named variant (``VARIANTS``), with ``changes`` on top."""
        if name not in VARIANTS:
            raise ValueError(f"unknown toy variant {name!r}; known: {', '.join(VARIANTS)}")
        return replace(VARIANTS[name], **changes)


VARIANTS: dict[str, ToyParams] = {
    "default": ToyParams(),
    "classic": ToyParams(
        margin=2.5,
        weak_tilt=0.6,
        copy_noise=1.2,
        copy_scale=0.2,
        modes=1,
        mode_spread=0.0,
        threshold_labels=False,
    ),
    "tilt": ToyParams(weak_tilt=0.6, weak_noise=0.6),
    "imbalanced": ToyParams(positive_share=0.2),
    "wide": ToyParams(latent_dim=96),
}
"""Named parameter sets (``[task] variant``); ``classic`` is version 1's task, which clusters solve; ``tilt``,
``imbalanced`` and ``wide`` each change where the weak errors come from (the module docstring says how)."""


class ToyTask(DrawnTask):
    name = "toy"
    PARAMS = ToyParams
    DATA_VERSION = DATA_VERSION

    def __init__(
        self, params: ToyParams | None = None, *, strong_recipe: Recipe | None = None, weak_recipe: Recipe | None = None
    ) -> None:
        params = params or ToyParams()
        # Tuned at size 4000; other sizes keep the number of optimiser steps, which is what
        # decides how much of the weak errors a student memorises.
        scale = 4000 / params.size
        super().__init__(
            params,
            weak_recipe=weak_recipe or Recipe(epochs=10 * scale, lr=1e-2, batch_size=128, weight_decay=0.0),
            strong_recipe=strong_recipe or Recipe(epochs=20 * scale, lr=1e-2, batch_size=512, weight_decay=0.0),
        )

    def identity_params(self) -> dict[str, Any]:
        params = asdict(self.params)
        if params["positive_share"] == 0.5:  # balanced data did not change with the knob, nor do their keys
            del params["positive_share"]
        return params

    # ------------------------------------------------------------ data

    def load(self) -> TaskData:
        p = self.params
        if p.data_seed is None:
            raise self.public_data_error()
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
            z, y = self._latent(rng, n)
            weak = z @ proj + p.weak_noise * rng.standard_normal((n, p.weak_dim))
            copy = weak + p.copy_noise * rng.standard_normal((n, p.weak_dim))
            strong = np.concatenate([z @ rotation, p.copy_scale * copy], axis=1)
            splits[name] = Split(name, weak.astype(np.float32), strong.astype(np.float32), y.astype(np.int64))
        return TaskData(splits)

    def _latent(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` latent points ``[n, latent_dim]`` and their labels. Direction 0 is the true one;
        direction 2 carries the modes (the weak view copies it as a direction that carries nothing)."""
        p = self.params
        # The balanced draw stays version 1's and 2's, so their data do not change with the knob.
        balanced = p.positive_share == 0.5
        y = rng.integers(0, 2, n) if balanced else (rng.random(n) < p.positive_share).astype(np.int64)
        z = rng.standard_normal((n, p.latent_dim))
        z[:, 0] += (2 * y - 1) * p.margin
        if p.threshold_labels:
            y = (z[:, 0] > 0).astype(np.int64)
        if p.modes > 1:  # no draw for one mode, so the classic variant's data is version 1's
            z[:, 2] += p.mode_spread * (rng.integers(0, p.modes, n) - (p.modes - 1) / 2)
        return z, y

    # ------------------------------------------------------------ models
