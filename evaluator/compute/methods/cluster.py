"""Cluster-then-label: the unsupervised baseline a weak-to-strong task must beat.

k-means (Lloyd, 1982; k-means++ seeding, Arthur & Vassilvitskii, 2007) on the
standardised strong features of ``train_x`` and ``test_x`` together; each
cluster is named by the majority weak label of its ``train_x`` rows, and every
test row gets its cluster's name. The weak labels name clusters and do nothing
else, so a task where this scores near the ceiling is solved by its input
geometry (the cluster assumption of semi-supervised learning), not by
weak-to-strong learning: a task worth studying keeps it well below the best
weak-to-strong method.

Features: ``ctx.embed(x)`` where the context has it (a task's strong-model
representation), else ``ctx.train_x`` / ``ctx.test_x`` as float arrays (toy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evaluator.compute.context import MethodContext


def features(ctx: MethodContext, x: Any) -> np.ndarray:
    """Strong-view features of ``x``: ``ctx.embed(x)`` when the context offers it, else ``x`` itself."""
    embed = getattr(ctx, "embed", None)
    out = embed(x) if callable(embed) else x
    return np.asarray(out, dtype=np.float64)


def standardise(*blocks: np.ndarray) -> list[np.ndarray]:
    """Z-score every column with the mean and spread of all ``blocks`` together."""
    stacked = np.concatenate(blocks)
    mean, std = stacked.mean(axis=0), stacked.std(axis=0)
    std[std == 0] = 1.0
    return [(b - mean) / std for b in blocks]


def _sq_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared euclidean distances ``[n, k]``."""
    d: np.ndarray = (x * x).sum(1)[:, None] - 2 * x @ centres.T + (centres * centres).sum(1)[None, :]
    out: np.ndarray = np.maximum(d, 0.0)
    return out


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each next centre drawn with probability proportional to its squared distance."""
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = _sq_distances(x, np.array(centres)).min(axis=1)
        total = d.sum()
        centres.append(x[rng.choice(len(x), p=d / total)] if total > 0 else x[rng.integers(len(x))])
    return np.array(centres)


def kmeans(
    x: np.ndarray, k: int, rng: np.random.Generator, *, restarts: int = 4, iterations: int = 100
) -> tuple[np.ndarray, float]:
    """Cluster assignment of every row and its inertia: the best of ``restarts`` Lloyd runs."""
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be between 1 and the number of rows ({len(x)}), got {k}")
    best: tuple[np.ndarray, float] | None = None
    for _ in range(restarts):
        centres = _plus_plus(x, k, rng)
        assign = np.full(len(x), -1)
        for _ in range(iterations):
            new = _sq_distances(x, centres).argmin(axis=1)
            if np.array_equal(new, assign):
                break
            assign = new
            for j in range(k):
                members = x[assign == j]
                centres[j] = members.mean(axis=0) if len(members) else x[rng.integers(len(x))]
        inertia = float(_sq_distances(x, centres)[np.arange(len(x)), assign].sum())
        if best is None or inertia < best[1]:
            best = (assign, inertia)
    assert best is not None
    return best


def name_clusters(assign: np.ndarray, weak_labels: np.ndarray, k: int) -> np.ndarray:
    """The 0/1 name of each cluster: the majority weak label of its rows (the overall majority for an empty one)."""
    fallback = int(weak_labels.mean() > 0.5)
    names = np.full(k, fallback, dtype=np.int64)
    for j in range(k):
        members = weak_labels[assign == j]
        if len(members):
            names[j] = int(members.mean() > 0.5)
    return names


def run(ctx: MethodContext, *, k: int = 2, restarts: int = 4) -> np.ndarray:
    """0/1 predictions for ``ctx.test_x``: the weak-majority name of each test row's k-means cluster."""
    train, test = standardise(features(ctx, ctx.train_x), features(ctx, ctx.test_x))
    assign, _ = kmeans(np.concatenate([train, test]), k, ctx.rng(), restarts=restarts)
    names = name_clusters(assign[: len(train)], ctx.weak_labels, k)
    ctx.log(f"cluster: k={k}, sizes {np.bincount(assign, minlength=k).tolist()}, names {names.tolist()}")
    preds: np.ndarray = names[assign[len(train) :]].astype(np.float64)
    return preds
