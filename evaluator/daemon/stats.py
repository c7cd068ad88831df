"""PGR and its confidence interval (numpy only: the daemon and ``aar report`` use it too).

    PGR = (acc_transfer - acc_weak) / (acc_ceiling - acc_weak)

Accuracies are means over seeds. The interval is a 95% percentile bootstrap
that resamples seeds and test examples together (the same resampled
examples for weak, ceiling and transfer, and the same seeds when transfer
was run per seed), so it carries both the training noise across seeds and
the sampling noise of a finite test set. Where ceiling <= weak there is no
PGR: it would divide by a gap that is not there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_PGR = "no PGR: the ceiling is not above the weak model on this split"
CONFIDENCE = 0.95


@dataclass(frozen=True)
class PGRResult:
    pgr: float | None
    ci_low: float | None
    ci_high: float | None
    acc_weak: float
    acc_ceiling: float
    acc_transfer: float
    seeds: int
    examples: int
    note: str = ""

    def as_metrics(self) -> dict[str, float | int | str | None]:
        return {
            "pgr": self.pgr,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "acc_weak": self.acc_weak,
            "acc_ceiling": self.acc_ceiling,
            "acc_transfer": self.acc_transfer,
            "seeds": self.seeds,
            "examples": self.examples,
            "ci": "95% bootstrap over seeds and test examples",
            **({"note": self.note} if self.note else {}),
        }


def pgr(acc_transfer: float, acc_weak: float, acc_ceiling: float) -> float | None:
    """The point estimate, or None when the ceiling is not above the weak model."""
    gap = acc_ceiling - acc_weak
    return None if gap <= 0 else (acc_transfer - acc_weak) / gap


def correct(preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """0/1 correctness of (probabilities or labels) against labels; rows are seeds."""
    preds = np.atleast_2d(np.asarray(preds, dtype=np.float64))
    hits: np.ndarray = (preds > 0.5).astype(np.int64) == np.asarray(labels)[None, :]
    return hits.astype(np.float64)


def pgr_with_ci(
    weak: np.ndarray,
    ceiling: np.ndarray,
    transfer: np.ndarray,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> PGRResult:
    """PGR of correctness matrices ``[seeds, examples]``.

    ``weak`` and ``ceiling`` have one row per baseline seed; ``transfer`` has the
    same rows (a method run per seed: seeds are paired) or a single row (one
    prediction file, compared with every seed's baselines).
    """
    weak, ceiling, transfer = (np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in (weak, ceiling, transfer))
    s, n = weak.shape
    if ceiling.shape != (s, n) or transfer.shape[1] != n or transfer.shape[0] not in (1, s):
        raise ValueError(
            f"shapes do not pair up: weak {weak.shape}, ceiling {ceiling.shape}, transfer {transfer.shape}"
        )
    acc_weak, acc_ceiling, acc_transfer = (float(m.mean()) for m in (weak, ceiling, transfer))
    accs = {"acc_weak": acc_weak, "acc_ceiling": acc_ceiling, "acc_transfer": acc_transfer}
    point = pgr(acc_transfer, acc_weak, acc_ceiling)
    if point is None:
        return PGRResult(None, None, None, **accs, seeds=s, examples=n, note=NO_PGR)
    values = _boot_values(weak, ceiling, transfer, resamples, seed)
    ok = np.isfinite(values)
    values = values[ok]
    note = "" if ok.all() else f"{(~ok).sum()} of {resamples} resamples had ceiling <= weak and were left out"
    alpha = (1 - CONFIDENCE) / 2
    low, high = (float(v) for v in np.quantile(values, [alpha, 1 - alpha])) if len(values) else (None, None)
    return PGRResult(point, low, high, **accs, seeds=s, examples=n, note=note)


def accuracy_ci(hits: np.ndarray, *, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the mean of a correctness matrix ``[seeds, examples]`` (same resampling as PGR)."""
    hits = np.atleast_2d(np.asarray(hits, dtype=np.float64))
    s, n = hits.shape
    rng = np.random.default_rng(seed)
    ex_w = _counts(rng, n, resamples).T
    seed_w = _counts(rng, s, resamples)
    accs = ((hits @ ex_w).T / n * seed_w).sum(axis=1) / s
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(accs, [alpha, 1 - alpha])
    return float(low), float(high)


def difference_ci(
    weak: np.ndarray, ceiling: np.ndarray, a: np.ndarray, b: np.ndarray, *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float] | None:
    """PGR(a) - PGR(b) with a paired 95% bootstrap interval (both run on the same seeds)."""
    ra = pgr_with_ci(weak, ceiling, a, resamples=resamples, seed=seed)
    rb = pgr_with_ci(weak, ceiling, b, resamples=resamples, seed=seed)
    if ra.pgr is None or rb.pgr is None:
        return None
    # Same generator seed -> same resamples for both, so the difference is paired.
    da = _boot_values(weak, ceiling, a, resamples, seed)
    db = _boot_values(weak, ceiling, b, resamples, seed)
    diff = da - db
    diff = diff[np.isfinite(diff)]
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(diff, [alpha, 1 - alpha])
    return ra.pgr - rb.pgr, float(low), float(high)


def _boot_values(weak: np.ndarray, ceiling: np.ndarray, transfer: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """PGR of each bootstrap resample (NaN where that resample's ceiling <= weak)."""
    weak, ceiling, transfer = (np.atleast_2d(np.asarray(x, dtype=np.float64)) for x in (weak, ceiling, transfer))
    s, n = weak.shape
    rng = np.random.default_rng(seed)
    # Multinomial counts are the bootstrap weights: a resample's accuracy is w_seed @ C @ w_example / (s n).
    ex_w = _counts(rng, n, resamples).T  # [n, B]
    seed_w = _counts(rng, s, resamples)  # [B, s]
    accs = []
    for m in (weak, ceiling, transfer):
        per_seed = (m @ ex_w).T / n  # [B, rows]
        accs.append(per_seed[:, 0] if m.shape[0] == 1 else (per_seed * seed_w).sum(axis=1) / s)
    bw, bc, bt = accs
    gap = bc - bw
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 0, (bt - bw) / gap, np.nan)


def _counts(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each of ``resamples`` draws of ``n`` with replacement."""
    picks = rng.integers(0, n, size=(resamples, n)) + (np.arange(resamples) * n)[:, None]
    return np.bincount(picks.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    averaged: np.ndarray = (np.bincount(inverse, weights=ranks) / counts)[inverse]
    return averaged


def roc_auc(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of P(y=1) against ``labels`` (ties count half); nan where the labels hold one class."""
    labels = np.asarray(labels)
    positive = labels == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    rows = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    if n_pos == 0 or n_neg == 0:
        return np.full(len(rows), np.nan)
    return np.array([(_ranks(r)[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg) for r in rows])
