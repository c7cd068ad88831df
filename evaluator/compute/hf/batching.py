"""Length-bucketed batches: rows of similar length share a batch, so each batch pads only to its own longest row.

An epoch shuffles the rows, cuts them into mega-batches of ``MEGA`` batches, sorts
each mega-batch by length and cuts it into batches, then shuffles the order of
every batch of the epoch. Rows of the same length are drawn in random order
and batches come in random order, deterministically per seed and epoch; every
row is in exactly one batch of an epoch. With ``max_tokens`` a batch is cut
where its padded size (rows x longest row) would pass the budget instead of at
``batch_size`` rows. Numpy only: the batch plans are cheap and testable without torch.
"""

from __future__ import annotations

import numpy as np

MEGA = 64
"""Batches per mega-batch: larger pads less, smaller mixes lengths more across an epoch."""


def cut(order: np.ndarray, lengths: np.ndarray, batch_size: int, max_tokens: int = 0) -> list[np.ndarray]:
    """Cut ``order`` (rows, longest first) into batches of at most ``batch_size`` rows and, with
    ``max_tokens``, at most that many padded tokens (a row longer than the budget is a batch alone)."""
    if max_tokens <= 0:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = int(lengths[order[start]])
        rows = max(1, min(batch_size, max_tokens // max(1, longest)))
        batches.append(order[start : start + rows])
        start += rows
    return batches


def epoch_batches(
    lengths: np.ndarray, batch_size: int, *, seed: int, epoch: int, max_tokens: int = 0
) -> list[np.ndarray]:
    """The batches (row indices) of one training epoch; the same for the same seed and epoch."""
    lengths = np.asarray(lengths)
    n = len(lengths)
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(n)
    span = batch_size * MEGA
    batches: list[np.ndarray] = []
    for start in range(0, n, span):
        mega = perm[start : start + span]
        # Stable sort of a shuffled chunk: equal lengths keep their random order.
        mega = mega[np.argsort(-lengths[mega], kind="stable")]
        batches.extend(cut(mega, lengths, batch_size if max_tokens <= 0 else n, max_tokens))
    return [batches[i] for i in rng.permutation(len(batches))]


def predict_batches(lengths: np.ndarray, batch_size: int, max_tokens: int = 0) -> list[np.ndarray]:
    """Prediction batches: every row once, longest first, each within ``batch_size`` rows and a token
    budget (``max_tokens``, else ``batch_size`` median rows), so long rows go in smaller batches."""
    lengths = np.asarray(lengths)
    if len(lengths) == 0:
        return []
    order = np.argsort(-lengths, kind="stable")
    budget = max_tokens or batch_size * max(1, int(np.median(lengths)))
    return cut(order, lengths, batch_size, budget)


def padded_tokens(batches: list[np.ndarray], lengths: np.ndarray) -> int:
    """Tokens computed on when every batch pads to its longest row."""
    return int(sum(len(b) * int(lengths[b].max()) for b in batches if len(b)))
