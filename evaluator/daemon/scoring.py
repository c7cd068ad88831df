"""Turn predictions into PGR results: baselines, prediction files, verified methods.

Only ``feedback`` labels are read here; ``final`` is scored by ``evaluator.daemon.final``
alone, once, when the supervisor asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

from evaluator.daemon.stats import NO_PGR, accuracy_ci, correct, pgr, pgr_with_ci, roc_auc

REVIEW = "review"
"""The PGR's interval sits at or above the ceiling's: a supervisor looks before it counts."""


class Scored(BaseModel):
    """One row for ``eval_results``."""

    split: str
    pgr: float | None
    ci_low: float | None
    ci_high: float | None
    metrics: dict[str, Any]
    flags: list[str] = []


def score(
    split: str,
    labels: np.ndarray,
    weak: np.ndarray,
    ceiling: np.ndarray,
    transfer: np.ndarray,
    *,
    extra: dict[str, Any] | None = None,
    subsets: Sequence[str] | None = None,
) -> Scored:
    """PGR of ``transfer`` (one row, or one per seed) against per-seed weak and ceiling predictions.

    A PGR whose whole 95% interval sits at or above the ceiling's (the ceiling's accuracy interval
    put on the PGR scale) is flagged ``review``: weak labels rarely teach that much, and ground
    truth from elsewhere would; the supervisor decides.
    """
    ceiling_hits = correct(ceiling, labels)
    result = pgr_with_ci(correct(weak, labels), ceiling_hits, correct(transfer, labels))
    flags = ["no_pgr"] if result.pgr is None else []
    metrics = {**result.as_metrics(), **auc_metrics(labels, weak, ceiling, transfer), **(extra or {})}
    if subsets is not None:
        metrics["subsets"] = per_subset(labels, weak, ceiling, transfer, subsets)
    if result.pgr is None:
        metrics["note"] = NO_PGR
    else:
        low, _ = accuracy_ci(ceiling_hits)
        # The ceiling's interval on the PGR scale: where a student trained on ground truth lands.
        ceiling_low = (low - result.acc_weak) / (result.acc_ceiling - result.acc_weak)
        metrics["ceiling_pgr_low"] = round(ceiling_low, 4)
        if result.ci_low is not None and result.ci_low >= ceiling_low:
            flags.append(REVIEW)
    return Scored(
        split=split, pgr=result.pgr, ci_low=result.ci_low, ci_high=result.ci_high, metrics=metrics, flags=flags
    )


def auc_metrics(labels: np.ndarray, weak: np.ndarray, ceiling: np.ndarray, transfer: np.ndarray) -> dict[str, Any]:
    """PGR from ROC AUC beside PGR from accuracy: the same gap, measured on the ranking of P(y=1) (seeds'
    mean AUC); a prediction file of 0/1 ranks coarsely, so its AUC is its balanced accuracy."""
    w, c, t = (float(np.nanmean(roc_auc(m, labels))) for m in (weak, ceiling, transfer))
    if not all(np.isfinite([w, c, t])):
        return {}
    value = pgr(t, w, c)
    return {
        "auc_weak": round(w, 4),
        "auc_ceiling": round(c, 4),
        "auc_transfer": round(t, 4),
        "pgr_auc": None if value is None else round(value, 4),
    }


def per_subset(
    labels: np.ndarray, weak: np.ndarray, ceiling: np.ndarray, transfer: np.ndarray, subsets: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """PGR with its 95% CI on each subset of the rows (in-distribution, out-of-distribution, ...)."""
    names = np.asarray(subsets)
    out = {}
    for name in sorted(set(subsets)):
        cols = names == name
        part = [np.atleast_2d(m)[:, cols] for m in (weak, ceiling, transfer)]
        result = pgr_with_ci(*(correct(m, labels[cols]) for m in part))
        out[name] = {"n": int(cols.sum()), **result.as_metrics()}
    return out


def per_seed_accuracy(preds: np.ndarray, labels: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in correct(preds, labels).mean(axis=1)]


def describe(scored: Scored) -> str:
    """One line for job details and CLI output."""
    m = scored.metrics
    accs = f"weak {m['acc_weak']:.3f}, transfer {m['acc_transfer']:.3f}, ceiling {m['acc_ceiling']:.3f}"
    name = f"{m['baseline']} " if isinstance(m.get("baseline"), str) else ""
    name += f"on {m['target']}: " if isinstance(m.get("target"), str) else ""
    if scored.pgr is None:
        return f"{name}{NO_PGR} ({accs})"
    line = f"{name}PGR {scored.pgr:.3f} [95% CI {scored.ci_low:.3f}, {scored.ci_high:.3f}] ({accs})"
    vs = m.get("vs_vanilla")
    if isinstance(vs, dict):
        line += f"; vs vanilla {vs['diff']:+.3f} [{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}]"
    return line
