"""``digits``: real images offline, scikit-learn's handwritten digits, the W2S paper's vision setting in small.

The data: the 1,797 8x8 greyscale digits that ship inside scikit-learn (``load_digits``, no download),
scaled to [0, 1]. The label: is the digit odd. The strong model (the toy's one-hidden-layer MLP) sees
all 64 pixels; the weak model (linear, as the toy's) sees the image average-pooled over ``weak_pool``
x ``weak_pool`` blocks (2: a 4x4 image of 16 numbers) plus ``weak_noise``: a coarse, noisy sensor.

Splits: the images are shuffled by the run's secret data seed, then cut into ``weak_train`` 400
(each weak model learns from its own half of it, 200), ``train_unlabel`` 700, ``feedback`` 348 and
``final`` 349. There are few images, so ``train_unlabel`` gets the largest share (the ceiling and
every method learn from it), the two test halves are large enough for a CI of a few points, and
``weak_train`` is as large as a 16-feature linear model needs.

Why the noise: pooling is linear, so without it a linear weak model's labels are a linear function
of the strong view, the simplest thing an MLP learns, and the student copies them whole (vanilla PGR
0.02 for odd/even and 0.00 for digits >= 5, 3 seeds each). With noise 0.2 part of the weak errors are not a
function of the pixels the student sees, and it learns the clean part first; the rest, the coarse
view's own confusions (a 4x4 average blurs a 3 into an 8), stay for methods to remove, by their own
confident predictions or by neighbours among images of the same digit. On 5 seeds (bench/methods.py)
vanilla recovers 0.19 of the gap (95% CI 0.00 to 0.35; weak 0.74, ceiling 0.96), kNN 0.39, the
confidence window 0.39, self-training 0.35, and clusters nothing (-0.01). More noise lifts vanilla
(0.24 at 0.25, 0.26 at 0.3) but leaves less between it and the methods. Odd against
even suits a 4x4 view better than ``< 5``: its clean linear weak model is right on about 83% of the
images, not 74%, so there is a gap to recover without a weak model at chance.

What the bundle carries is the toy's: inputs of ``train_unlabel``, ``feedback`` and ``final`` in
both views, and the weak labels; ``data_seed`` is None there, so the split cannot be redrawn. The
images themselves are public, though: a method could look each one up in scikit-learn's copy and
read its digit. Such a method scores above the ceiling, which the evaluator flags ``review``; this
task measures methods, it does not hide its data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aar.errors import AarError
from evaluator.compute.tasks.base import Recipe, Split, TaskData
from evaluator.compute.tasks.drawn import DrawnTask

DATA_VERSION = 1
"""Bump when the label, the views or the split change, so caches of older data are not reused."""
SPLIT_SIZES = {"weak_train": 400, "train_unlabel": 700, "feedback": 348, "final": 349}
"""1,797 images in all; see the module docstring for why these shares."""


@dataclass(frozen=True)
class DigitsParams:
    """What changes the data: the weak view and the secret split."""

    weak_pool: int = 2
    """Side of the pixel blocks the weak view averages (2: a 4x4 image, 4: a 2x2 image); divides 8."""
    weak_noise: float = 0.2
    """Noise added to the weak view (pixel intensities are 0..1): a sensor the strong model does not share,
    so part of the weak errors are not a function of the strong view (see the module docstring)."""
    hidden: int = 64
    data_seed: int | None = 0
    """Shuffles the images into splits. A run draws a secret one and public bundles carry None."""


class DigitsTask(DrawnTask):
    name = "digits"
    PARAMS = DigitsParams
    DATA_VERSION = DATA_VERSION

    def __init__(
        self,
        params: DigitsParams | None = None,
        *,
        strong_recipe: Recipe | None = None,
        weak_recipe: Recipe | None = None,
    ) -> None:
        params = params or DigitsParams()
        if 8 % params.weak_pool:
            raise ValueError(f"weak_pool {params.weak_pool} does not divide the 8x8 image")
        super().__init__(
            params,
            weak_recipe=weak_recipe or Recipe(epochs=50, lr=1e-2, batch_size=32),
            strong_recipe=strong_recipe or Recipe(epochs=20, lr=1e-2, batch_size=64),
        )

    def load(self) -> TaskData:
        p = self.params
        if p.data_seed is None:
            raise self.public_data_error()
        images, digits = _load_digits()
        images = images / 16.0
        labels = (digits % 2).astype(np.int64)  # odd: 1
        rng = np.random.default_rng(p.data_seed)
        order = rng.permutation(len(labels))
        splits: dict[str, Split] = {}
        start = 0
        for name, n in SPLIT_SIZES.items():
            rows = order[start : start + n]
            start += n
            strong = images[rows]
            weak = pool(strong, p.weak_pool) + p.weak_noise * rng.standard_normal((n, (8 // p.weak_pool) ** 2))
            splits[name] = Split(name, weak.astype(np.float32), strong.astype(np.float32), labels[rows])
        return TaskData(splits)


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 images ``[n, 64]`` (0..16) and their digits, imported here and not at module import:
    the daemon never loads scikit-learn."""
    try:
        from sklearn.datasets import load_digits  # type: ignore[import-untyped]  # no type hints shipped
    except ImportError:
        raise AarError("the digits task reads scikit-learn's copy of the images: pip install scikit-learn") from None
    images, digits = load_digits(return_X_y=True)
    return np.asarray(images, dtype=np.float64), np.asarray(digits)


def pool(images: np.ndarray, block: int) -> np.ndarray:
    """``[n, 64]`` 8x8 images averaged over ``block`` x ``block`` pixel blocks: ``[n, (8 // block) ** 2]``."""
    side = 8 // block
    pooled: np.ndarray = images.reshape(-1, side, block, side, block).mean(axis=(2, 4))
    return pooled.reshape(-1, side * side)
