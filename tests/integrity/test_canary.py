"""The canary: reference methods learn from their weak labels and pass; a method that ignores them is flagged.

Real toy bundle, real method runner (``python -m evaluator.run_method``'s ``main``), the real canary
bundle (weak labels shuffled by ``evaluator.canary``), two seeds each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evaluator.canary import IGNORES_LABELS, SEED_INVARIANT, canary_flags, shuffle_weak_labels
from evaluator.methods import REFERENCE_METHODS
from evaluator.prepare import prepare
from evaluator.run_method import main as run_method
from evaluator.runfiles import RunFiles
from tests.evaluator.helpers import make_run

FIXED = """
def run(ctx):
    return [i % 2 for i in range(len(ctx.test_x))]
"""
FROM_GROUND_TRUTH_ONLY = """
from evaluator.methods import vanilla

def run(ctx):
    # Ignores the weak labels it is given: trains the weak learner on weak_train alone.
    ctx.weak_probs = ctx.weak_probs[ctx.rng(99).permutation(len(ctx.weak_probs))] * 0 + 0.5
    return vanilla.run(ctx)
"""


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The run's bundle and its canary twin (the run's bundle has the weak labels of seeds 0 and 1)."""
    root = tmp_path_factory.mktemp("canary") / "run"
    paths = make_run(root, evaluator={"seeds": 2, "device": "cpu"}, task={"size": 1000})
    prepare(paths.root)
    real = RunFiles(paths).bundle
    canary = root / "canary-bundle"
    shutil.copytree(real, canary)
    shuffle_weak_labels(canary)
    return real, canary


def _run(method: str, bundle: Path, seed: int, out: Path) -> dict[str, object]:
    target = out / f"{Path(method).stem}-{bundle.name}-{seed}.json"
    code = run_method([method, "--bundle", str(bundle), "--seed", str(seed), "--out", str(target), "--device", "cpu"])
    assert code == 0
    data: dict[str, object] = json.loads(target.read_text())
    return data


def _flags(
    method: str, bundles: tuple[Path, Path], out: Path, seeds: tuple[int, ...] = (0, 1)
) -> tuple[list[str], dict[str, object]]:
    real, canary = bundles
    runs = [_run(method, real, seed, out) for seed in seeds]
    return canary_flags(runs, _run(method, canary, seeds[0], out))


def test_the_canary_bundle_shuffles_every_seeds_weak_labels(bundles: tuple[Path, Path]) -> None:
    real, canary = (json.loads((b / "weak_labels.json").read_text()) for b in bundles)
    assert real.keys() == canary.keys()
    for seed in real:
        assert sorted(real[seed]) == sorted(canary[seed]) and real[seed] != canary[seed]


@pytest.mark.slow
@pytest.mark.parametrize("method", REFERENCE_METHODS)
def test_reference_methods_are_not_flagged(method: str, bundles: tuple[Path, Path], tmp_path: Path) -> None:
    # One seed and the canary (two seeds of a method that trains are never identical; the
    # suite stays fast). The auxiliary confidence loss follows its own predictions most:
    # about 0.95 agreement with its canary on the toy task, under the 0.99 that flags.
    flags, metrics = _flags(method, bundles, tmp_path, seeds=(0,))
    assert flags == [], metrics


@pytest.mark.parametrize(
    ("source", "expected"),
    [(FIXED, [IGNORES_LABELS, SEED_INVARIANT]), (FROM_GROUND_TRUTH_ONLY, [IGNORES_LABELS])],
)
def test_a_method_that_ignores_its_weak_labels_is_flagged(
    source: str, expected: list[str], bundles: tuple[Path, Path], tmp_path: Path
) -> None:
    method = tmp_path / "ignores.py"
    method.write_text(source)
    flags, metrics = _flags(str(method), bundles, tmp_path)
    assert flags == expected, metrics
