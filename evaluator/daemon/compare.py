"""Two methods side by side on every task they were both run on: per-seed PGR and the paired difference.

Read from what the evaluator kept, nothing is re-run: each verified method's per-seed predictions
(``verify/<sub>/seed<N>.json``, and ``targets/<name>/verify/...`` for a transfer target), the baselines'
predictions in the worker's cache (``final.cached_baselines``: the lookup ``aar report --final`` makes) and
the held-out labels. The seeds are shared (the same weak model, ceiling and data per seed), so the difference's 95% interval is paired: the same resampled seeds and examples for both
(``stats.difference_ci``, the interval a method's ``vs vanilla`` shows). ``vanilla`` stands for the evaluator's
own vanilla baseline. The ``final`` split is compared only once ``aar report --final`` has scored it.
Numpy only: no torch.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

import numpy as np

from aar.config import RunConfig
from aar.errors import AarError
from aar.runtime import RunPaths
from evaluator.compute.pipeline import SeedBaseline
from evaluator.daemon.bundle import read_heldout
from evaluator.daemon.final import cached_baselines
from evaluator.daemon.runfiles import RunFiles
from evaluator.daemon.stats import correct, difference_ci, pgr, pgr_with_ci

VANILLA = "vanilla"
"""The name that stands for the evaluator's vanilla baseline in place of a submission."""
SOURCE_DIFF_LINES = 4000
"""Lines of the source diff kept (a longer diff says how many it left out)."""


class CompareError(AarError):
    """Two methods cannot be compared as asked (one line)."""


@dataclass(frozen=True)
class Side:
    """One of the two compared: a method submission, or vanilla."""

    name: str
    """``#12`` or ``vanilla``."""
    submission_id: int | None
    source: str
    label: str


@dataclass(frozen=True)
class SeedRow:
    seed: int
    acc_a: float
    acc_b: float
    pgr_a: float | None
    pgr_b: float | None

    @property
    def diff(self) -> float | None:
        return None if self.pgr_a is None or self.pgr_b is None else self.pgr_a - self.pgr_b


@dataclass(frozen=True)
class Comparison:
    """The two on one task and split."""

    scope: str
    """``feedback`` or ``final`` (the home task), or a transfer target's name (its feedback split)."""
    seeds: list[int]
    rows: list[SeedRow]
    pgr_a: tuple[float | None, float | None, float | None]
    """PGR with its 95% CI: (estimate, low, high)."""
    pgr_b: tuple[float | None, float | None, float | None]
    diff: tuple[float, float, float] | None
    """PGR(a) - PGR(b) with its paired 95% CI; None where either PGR is undefined."""


def _predictions(files: RunFiles, side: Side, seed: int, baseline: SeedBaseline) -> list[float] | None:
    if side.submission_id is None:
        return baseline.vanilla
    path = files.verify(side.submission_id) / f"seed{seed}.json"
    if not path.is_file():
        return None
    run = json.loads(path.read_text())
    return [float(v) for v in run["feedback"] + run["final"]]


def compare_scope(files: RunFiles, config: RunConfig, a: Side, b: Side, split: str, scope: str) -> Comparison | None:
    """``a`` against ``b`` on the seeds both have on this task's ``split``; None where they share none."""
    labels = read_heldout(files.heldout, split)
    n_feedback = len(read_heldout(files.heldout, "feedback"))
    part = slice(0, n_feedback) if split == "feedback" else slice(n_feedback, None)
    used, weak, ceiling, pa, pb = [], [], [], [], []
    for seed in files.seeds(config):
        found = cached_baselines(files, config, [seed])
        if found is None:
            continue
        (baseline,) = found
        got_a, got_b = _predictions(files, a, seed, baseline), _predictions(files, b, seed, baseline)
        if got_a is None or got_b is None:
            continue
        used.append(seed)
        weak.append(baseline.weak[part])
        ceiling.append(baseline.ceiling[part])
        pa.append(got_a[part])
        pb.append(got_b[part])
    if not used:
        return None
    w, c, xa, xb = (correct(np.array(m), labels) for m in (weak, ceiling, pa, pb))
    rows = [
        SeedRow(
            seed,
            float(xa[i].mean()),
            float(xb[i].mean()),
            pgr(float(xa[i].mean()), float(w[i].mean()), float(c[i].mean())),
            pgr(float(xb[i].mean()), float(w[i].mean()), float(c[i].mean())),
        )
        for i, seed in enumerate(used)
    ]
    ra, rb = pgr_with_ci(w, c, xa), pgr_with_ci(w, c, xb)
    return Comparison(
        scope, used, rows, (ra.pgr, ra.ci_low, ra.ci_high), (rb.pgr, rb.ci_low, rb.ci_high), difference_ci(w, c, xa, xb)
    )


def compare(
    paths: RunPaths, config: RunConfig, a: Side, b: Side, *, final_scored: bool
) -> tuple[list[Comparison], list[str]]:
    """``a`` against ``b`` on the home task's feedback split (and final once scored) and on every transfer
    target both were run on; and a note for each place they could not be compared."""
    out, notes = [], []
    home = RunFiles(paths)
    splits = ["feedback", "final"] if final_scored else ["feedback"]
    for split in splits:
        found = compare_scope(home, config, a, b, split, split)
        if found is None:
            notes.append(f"{split}: no seed where both were verified")
        else:
            out.append(found)
    if not final_scored:
        notes.append("final: not scored yet (`aar report RUN --final` scores it, once)")
    for target in config.transfer.targets:
        files = RunFiles(paths, target)
        found = compare_scope(files, config, a, b, "feedback", target.name) if files.heldout.is_dir() else None
        if found is None:
            notes.append(f"{target.name}: not transferred for both (`aar transfer RUN --submission ID`)")
        else:
            out.append(found)
    return out, notes


def source_diff(a: Side, b: Side) -> list[str]:
    """The unified diff from ``a``'s source to ``b``'s, cut at ``SOURCE_DIFF_LINES`` lines."""
    lines = list(
        difflib.unified_diff(
            a.source.splitlines(),
            b.source.splitlines(),
            f"{a.name} {a.label}",
            f"{b.name} {b.label}",
            lineterm="",
        )
    )
    if len(lines) > SOURCE_DIFF_LINES:
        return [*lines[:SOURCE_DIFF_LINES], f"... {len(lines) - SOURCE_DIFF_LINES} more diff lines left out"]
    return lines
