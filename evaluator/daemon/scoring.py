"""Turn predictions into PGR results: baselines, prediction files, verified methods.

Only ``feedback`` labels are read here; ``final`` is scored by ``evaluator.daemon.final``
alone, once, when the supervisor asks for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel

from evaluator.daemon.stats import NO_PGR, accuracy_ci, correct, pgr_with_ci

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
) -> Scored:
    """PGR of ``transfer`` (one row, or one per seed) against per-seed weak and ceiling predictions.

    A PGR whose whole 95% interval sits at or above the ceiling's (the ceiling's accuracy interval
    put on the PGR scale) is flagged ``review``: weak labels rarely teach that much, and ground
    truth from elsewhere would; the supervisor decides.
    """
    ceiling_hits = correct(ceiling, labels)
    result = pgr_with_ci(correct(weak, labels), ceiling_hits, correct(transfer, labels))
    flags = ["no_pgr"] if result.pgr is None else []
    metrics = {**result.as_metrics(), **(extra or {})}
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


def per_seed_accuracy(preds: np.ndarray, labels: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in correct(preds, labels).mean(axis=1)]


def describe(scored: Scored) -> str:
    """One line for job details and CLI output."""
    m = scored.metrics
    accs = f"weak {m['acc_weak']:.3f}, transfer {m['acc_transfer']:.3f}, ceiling {m['acc_ceiling']:.3f}"
    name = f"{m['baseline']} " if isinstance(m.get("baseline"), str) else ""
    if scored.pgr is None:
        return f"{name}{NO_PGR} ({accs})"
    return f"{name}PGR {scored.pgr:.3f} [95% CI {scored.ci_low:.3f}, {scored.ci_high:.3f}] ({accs})"
