"""kNN label correction: trust what a row's neighbours in the strong model's feature space say.

Two modes, both on the standardised strong features of ``train_x`` (each row's
k nearest other rows, euclidean or cosine):

- ``relabel`` (default): each row's target becomes the mean weak P(y=1) of its
  neighbours, then a student learns from those targets. Label smoothing over a
  kNN graph, one step of label propagation (Zhu & Ghahramani, 2002).
- ``filter``: keep the rows whose hard weak label agrees with their
  neighbours' majority (Deep k-NN for noisy labels, Bahri, Jiang & Gupta,
  ICML 2020), then a student learns from them with the same number of
  optimiser steps as vanilla.

Both rest on the idea that the strong view puts examples of one class near
each other while the weak model's noise does not follow that geometry (the
"neighbourhood expansion" account of weak-to-strong generalisation, Lang,
Sontag & Vijayaraghavan, 2024). Errors the weak model makes on a whole region
of the strong space are shared by the region's neighbours, so neither mode
fixes them.

Features follow ``cluster.features``: ``ctx.embed(x)`` where the context has it,
else the float rows of ``ctx.train_x``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from evaluator.compute.context import MethodContext
from evaluator.compute.methods.cluster import features, standardise

Metric = Literal["euclidean", "cosine"]
CHUNK = 1024
"""Rows per block of the distance matrix (a block is ``CHUNK x n`` floats)."""


def neighbours(x: np.ndarray, k: int, metric: Metric = "euclidean") -> np.ndarray:
    """Indices ``[n, k]`` of each row's ``k`` nearest other rows (itself left out), nearest first."""
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and {n - 1} (rows - 1), got {k}")
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms == 0, 1.0, norms)
    elif metric != "euclidean":
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    sq = (x * x).sum(axis=1)
    out = np.empty((n, k), dtype=np.int64)
    for lo in range(0, n, CHUNK):
        block = x[lo : lo + CHUNK]
        # Cosine distance 1 - cos ranks like the squared distance of unit rows, so one formula serves both.
        d = sq[lo : lo + CHUNK, None] - 2 * block @ x.T + sq[None, :]
        rows = np.arange(len(block))
        d[rows, lo + rows] = np.inf
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(d, part, axis=1).argsort(axis=1)
        out[lo : lo + CHUNK] = np.take_along_axis(part, order, axis=1)
    return out


def neighbour_mean(values: np.ndarray, nbrs: np.ndarray) -> np.ndarray:
    """The mean of ``values`` over each row's neighbours."""
    means: np.ndarray = np.asarray(values, dtype=np.float64)[nbrs].mean(axis=1)
    return means


def agreeing_rows(weak_probs: np.ndarray, nbrs: np.ndarray, keep: float | None) -> np.ndarray:
    """Rows whose hard weak label its neighbours' hard labels back.

    ``keep=None`` keeps every row whose label is its neighbours' majority; a fraction keeps that share of
    rows with the most support (the share of neighbours that carry the row's own label).
    """
    labels = (np.asarray(weak_probs) > 0.5).astype(np.float64)
    backing = neighbour_mean(labels, nbrs)
    support = np.where(labels == 1, backing, 1 - backing)
    if keep is None:
        return np.flatnonzero(support > 0.5)
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1] or None, got {keep}")
    order = np.argsort(-support, kind="stable")
    return np.sort(order[: max(1, round(keep * len(labels)))])


def run(
    ctx: MethodContext,
    *,
    mode: Literal["relabel", "filter"] = "relabel",
    k: int = 25,
    metric: Metric = "euclidean",
    keep: float | None = None,
    hard: bool = True,
    epochs: float | None = None,
) -> np.ndarray:
    """``relabel``: fit on neighbour-mean weak probabilities; ``filter``: fit on the rows the
    neighbours back (``keep``: see ``agreeing_rows``; ``hard`` fits their 0/1 weak labels)."""
    (x,) = standardise(features(ctx, ctx.train_x))
    nbrs = neighbours(x, k, metric)
    if mode == "relabel":
        targets = neighbour_mean(ctx.weak_probs, nbrs)
        flipped = np.mean((targets > 0.5) != ctx.weak_labels)
        ctx.log(f"knn relabel: k={k} {metric}, hard label changed on {flipped:.1%} of rows")
        return ctx.fit(targets, epochs=epochs).predict_proba()
    if mode != "filter":
        raise ValueError(f"mode must be 'relabel' or 'filter', got {mode!r}")
    idx = agreeing_rows(ctx.weak_probs, nbrs, keep)
    ctx.log(f"knn filter: k={k} {metric}, kept {len(idx)} of {ctx.n_train} rows")
    scaled = (epochs or ctx.recipe.epochs) * ctx.n_train / len(idx)
    return ctx.fit(ctx.weak_labels if hard else ctx.weak_probs, idx=idx, epochs=scaled).predict_proba()
