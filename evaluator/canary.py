"""The canary: does a method learn from the weak labels it is given, or ignore them?

After the seeds are verified, the method runs once more in a fresh sandbox
on a canary bundle: the same inputs, every seed's weak labels shuffled by a
permutation the method cannot know. A method that learns from supervision
answers differently; one that returns a fixed list (an earlier prediction
file with a few flips, say) answers the same. That, and outputs identical
across seeds, are flagged for the supervisor, not rejected. Pure Python and
numpy: no torch here.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from evaluator.bundle import WEAK_LABELS

IGNORES_LABELS = "ignores_labels"
"""The canary's outputs (weak labels shuffled) agree with the real run's on nearly every input."""
SEED_INVARIANT = "seed_invariant"
"""Every seed gave exactly the same outputs."""
CANARY_AGREEMENT = 0.99
"""Hard-label agreement with the real run at or above which a method ignores its weak labels."""


def shuffle_weak_labels(bundle: Path) -> None:
    """Rewrite ``bundle``'s weak labels, each seed's list permuted by one secret permutation."""
    path = bundle / WEAK_LABELS
    weak = json.loads(path.read_text())
    rng = np.random.default_rng(secrets.randbits(64))
    n = len(next(iter(weak.values()))) if weak else 0
    order = rng.permutation(n)
    path.write_text(json.dumps({seed: [values[i] for i in order] for seed, values in weak.items()}))


def hard(run: dict[str, Any]) -> np.ndarray:
    """A run's ``feedback`` then ``final`` outputs as 0/1."""
    return (np.asarray(list(run["feedback"]) + list(run["final"]), dtype=np.float64) > 0.5).astype(np.int8)


def canary_flags(runs: list[dict[str, Any]], canary: dict[str, Any] | None) -> tuple[list[str], dict[str, Any]]:
    """Flags and metrics from the seeds' runs and the canary run (which used the first run's seed)."""
    flags: list[str] = []
    metrics: dict[str, Any] = {}
    if canary is not None and runs:
        agreement = float((hard(runs[0]) == hard(canary)).mean())
        metrics["canary_agreement"] = round(agreement, 4)
        if agreement >= CANARY_AGREEMENT:
            flags.append(IGNORES_LABELS)
    if len(runs) > 1:
        first = list(runs[0]["feedback"]) + list(runs[0]["final"])
        if all(list(r["feedback"]) + list(r["final"]) == first for r in runs[1:]):
            flags.append(SEED_INVARIANT)
    return flags, metrics
