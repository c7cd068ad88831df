"""The canary: honest methods learn from their weak labels and pass; a method that ignores them is flagged;
and a method cannot tell the canary from the run it is scored on.

Real toy run prepared by the daemon's code, the bundles staged as the worker stages them
(``bundle.stage_bundle`` with the ``eval`` and the ``canary`` weak models), the real method
runner (``python -m evaluator.compute.run_method``'s ``main``), two seeds.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aar.config import load_config
from aar.runtime import RunPaths
from agents.scripted.ideas import IDEAS, Idea
from evaluator.compute.methods import REFERENCE_METHODS
from evaluator.compute.pipeline import CANARY, EVAL
from evaluator.compute.prepare import prepare
from evaluator.compute.run_method import main as run_method
from evaluator.daemon.bundle import WEAK_LABELS, WEAK_TEST, stage_bundle
from evaluator.daemon.canary import (
    CANARY_TOLERANCE,
    IGNORES_LABELS,
    SEED_INVARIANT,
    SEED_TOLERANCE,
    canary_flags,
    ceiling_flags,
)
from evaluator.daemon.jobs import Evaluation
from evaluator.daemon.runfiles import RunFiles
from tests.evaluator.helpers import make_run

pytestmark = pytest.mark.slow  # every test reads bundles a real toy run trains (seconds per seed)

SEEDS = (0, 1)
FIXED = """
def run(ctx):
    return [i % 2 for i in range(len(ctx.test_x))]
"""
NOISY = """
import os
import numpy as np

def run(ctx):
    fixed = np.array([0.2, 0.8] * (len(ctx.test_x) // 2) + [0.2] * (len(ctx.test_x) % 2))
    noise = np.frombuffer(os.urandom(8 * len(fixed)), dtype=np.uint64) / 2.0**64 - 0.5
    return np.clip(fixed + 2e-4 * noise, 0, 1)
"""
HONEST_IDEAS = [
    IDEAS[f][i]
    for f, i in (("vanilla", 3), ("confidence", 1), ("filtered_confidence", 1), ("regularised", 1), ("bootstrap", 1))
]
"""The demo researchers' ideas beyond the reference defaults, one per family, the most self-trusting settings."""


@dataclass
class Bundles:
    public: Path
    scored: Path
    canary: Path
    ceilings: list[list[float]]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    """The run's public bundle, and the two bundles a method job stages (scored, canary)."""
    root = tmp_path_factory.mktemp("canary") / "run"
    paths = make_run(root, evaluator={"seeds": len(SEEDS), "device": "cpu"}, task={"size": 1000})
    prepare(paths.root)
    ev = Evaluation(RunPaths(root), load_config(paths.config), "cpu")
    staged = {}
    for role in (EVAL, CANARY):
        staged[role] = root / f"staged-{role}"
        stage_bundle(RunFiles(paths).bundle, staged[role], ev.weak_labels(role, list(SEEDS)))
    ceilings = [b.ceiling for b in ev.baselines(list(SEEDS), lambda f, d: None)]
    return Bundles(RunFiles(paths).bundle, staged[EVAL], staged[CANARY], ceilings)


def _run(method: str, bundle: Path, seed: int, out: Path) -> dict[str, object]:
    target = out / f"{Path(method).stem}-{bundle.name}-{seed}.json"
    code = run_method([method, "--bundle", str(bundle), "--seed", str(seed), "--out", str(target), "--device", "cpu"])
    assert code == 0
    data: dict[str, object] = json.loads(target.read_text())
    return data


def _flags(method: str, bundles: Bundles, out: Path) -> tuple[list[str], dict[str, Any]]:
    runs = [_run(method, bundles.scored, seed, out) for seed in SEEDS]
    canaries = [_run(method, bundles.canary, seed, out) for seed in SEEDS]
    flags, metrics = canary_flags(runs, canaries)
    beyond, more = ceiling_flags(runs, bundles.ceilings)
    return flags + beyond, metrics | more


def _hard(bundle: Path) -> dict[str, np.ndarray]:
    return {s: np.asarray(v) > 0.5 for s, v in json.loads((bundle / WEAK_LABELS).read_text()).items()}


def _looks(bundle: Path) -> tuple[list[str], list[str]]:
    """What an attacker can read of a bundle's files: their names, and their names in order of mtime."""
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    by_time = sorted(files, key=lambda f: (os.stat(bundle / f).st_mtime_ns, f))
    return files, by_time


def test_the_canary_cannot_be_told_from_the_scored_run(bundles: Bundles) -> None:
    # By its files: the same names, the same order of mtimes, sizes within a few bytes a number.
    assert _looks(bundles.scored) == _looks(bundles.canary)
    assert {WEAK_LABELS, WEAK_TEST} <= set(_looks(bundles.canary)[0]), "both carry the weak model's test predictions"
    for name in _looks(bundles.scored)[0]:
        a, b = (os.stat(folder / name).st_size for folder in (bundles.scored, bundles.canary))
        assert abs(a - b) <= 0.02 * max(a, b), name
    # By its labels: every set is another draw of the same weak model (its own secret half of weak_train),
    # so the canary stands among the other sets as each of them stands among the rest. One pair of draws
    # can agree closely by chance (1-6% apart on this size), so each set is judged by its mean distance to
    # the others: the canary's lies within the others' range, give or take a factor of 2 (in 12 draws
    # the canary's mean came within 0.69 to 1.2 of the others' extremes). A shuffle or a
    # label-free canary is 30-50% from everything and fails by a wide margin.
    public, scored, canary = _hard(bundles.public), _hard(bundles.scored), _hard(bundles.canary)
    others = [("public", s, v) for s, v in public.items()] + [("scored", s, v) for s, v in scored.items()]

    def apart(a: np.ndarray, b: np.ndarray) -> float:
        return float((a != b).mean())

    assert all(apart(a[2], b[2]) > 0 for a, b in itertools.combinations(others, 2)), "each weak model is a draw"
    means = [statistics.mean(apart(o[2], p[2]) for p in others if p is not o) for o in others]
    low, high = min(means) / 2, max(means) * 2
    for seed, labels in canary.items():
        mean = statistics.mean(apart(labels, o[2]) for o in others)
        assert low <= mean <= high, (seed, mean, (min(means), max(means)))


def test_no_ground_truth_reaches_a_method(bundles: Bundles) -> None:
    for folder in (bundles.public, bundles.scored, bundles.canary):
        names = {p.name for p in folder.iterdir()}
        assert not any(n.startswith("weak_train") for n in names), names
        for name in names - {"models"}:
            if name.endswith(".npz"):
                with np.load(folder / name) as f:
                    assert "y" not in f.files


LABEL_FREE = ("cluster",)
"""Reference baselines that use the weak labels only to name clusters. Whether the canary flags one depends on
the draw: where a cluster's weak majority is lopsided, another weak model names it the same way and the
outputs do not move (``ignores_labels``, rightly); where it is near even, the names move with the labels. The
evaluator runs it as a reference row, never as a submission, so neither outcome reaches a flag."""


@pytest.mark.parametrize("method", [m for m in REFERENCE_METHODS if m not in LABEL_FREE])
def test_reference_methods_are_not_flagged(method: str, bundles: Bundles, tmp_path: Path) -> None:
    flags, metrics = _flags(method, bundles, tmp_path)
    assert flags == [], metrics
    print(f"{method}: {metrics}")
    assert min(metrics["canary_moved_per_seed"]) > 3 * CANARY_TOLERANCE, metrics
    assert metrics["seed_moved"] > 3 * SEED_TOLERANCE, metrics


@pytest.mark.parametrize("idea", HONEST_IDEAS, ids=[i.slug for i in HONEST_IDEAS])
def test_the_demo_researchers_ideas_are_not_flagged(idea: Idea, bundles: Bundles, tmp_path: Path) -> None:
    method = tmp_path / "idea.py"
    method.write_text(idea.source("agent-1"))
    flags, metrics = _flags(str(method), bundles, tmp_path)
    print(f"{idea.key}: {metrics}")
    assert flags == [], metrics


@pytest.mark.parametrize(
    ("source", "expected"), [(FIXED, [IGNORES_LABELS, SEED_INVARIANT]), (NOISY, [IGNORES_LABELS, SEED_INVARIANT])]
)
def test_a_method_that_ignores_its_weak_labels_is_flagged(
    source: str, expected: list[str], bundles: Bundles, tmp_path: Path
) -> None:
    method = tmp_path / "ignores.py"
    method.write_text(source)
    flags, metrics = _flags(str(method), bundles, tmp_path)
    assert flags == expected, metrics
