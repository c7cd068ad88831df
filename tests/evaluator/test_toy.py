"""The toy task behaves like a weak-to-strong task: mid-range vanilla and headroom, and clusters of the strong
view do not give the labels away (they do on the ``classic`` variant). Its speed (seconds per seed) is a
benchmark target, measured side by side in bench/evaluator.py, not a timed assertion here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluator.compute.context import MethodFn
from evaluator.compute.methods import bootstrap, cluster, confidence, vanilla
from evaluator.compute.pipeline import Cache, make_context, public_view, run_method, seed_baseline
from evaluator.compute.tasks.base import TaskData
from evaluator.compute.tasks.toy import ToyParams, ToyTask
from evaluator.daemon.stats import PGRResult, correct, pgr_with_ci
from tests.evaluator.helpers import interval


@pytest.fixture(scope="module")
def toy() -> tuple[ToyTask, TaskData]:
    task = ToyTask(ToyParams(data_seed=0))
    return task, task.load()


@pytest.mark.slow
def test_vanilla_lands_mid_range_and_methods_beat_it(toy: tuple[ToyTask, TaskData]) -> None:
    task, data = toy
    labels = data["feedback"].y
    assert labels is not None
    n = len(labels)
    seeds = [0, 1, 2]
    base = [seed_baseline(task, data, s, "cpu", Cache(None, task, "cpu")) for s in seeds]
    weak = correct(np.array([b.weak[:n] for b in base]), labels)
    ceiling = correct(np.array([b.ceiling[:n] for b in base]), labels)
    van = pgr_with_ci(weak, ceiling, correct(np.array([b.vanilla[:n] for b in base]), labels))
    assert van.acc_ceiling > 0.85 and van.acc_weak < van.acc_ceiling - 0.08
    _, van_pgr, van_high = interval(van)
    assert 0.1 <= van_pgr <= 0.45, van
    public = public_view(data)
    for method in (confidence, bootstrap):
        preds = [
            run_method(method.run, make_context(task, public, np.asarray(b_weak), s, "cpu"))
            for s, b_weak in zip(seeds, [_weak_probs(task, data, s) for s in seeds], strict=False)
        ]
        res = pgr_with_ci(weak, ceiling, correct(np.array([p[:n] for p in preds]), labels))
        assert interval(res)[0] > van_high, f"{method.__name__}: {res} vs vanilla {van}"


def _pgr(task: ToyTask, data: TaskData, seeds: list[int], method: MethodFn) -> PGRResult:
    """The method's PGR on ``feedback`` over ``seeds``, against those seeds' baselines."""
    labels = data["feedback"].labels
    n = len(labels)
    base = [seed_baseline(task, data, s, "cpu", Cache(None, task, "cpu")) for s in seeds]
    public = public_view(data)
    preds = [
        run_method(method, make_context(task, public, np.asarray(_weak_probs(task, data, s)), s, "cpu"))[:n]
        for s in seeds
    ]
    return pgr_with_ci(
        correct(np.array([b.weak[:n] for b in base]), labels),
        correct(np.array([b.ceiling[:n] for b in base]), labels),
        correct(np.array(preds), labels),
    )


@pytest.mark.slow
def test_clusters_do_not_give_the_labels_away(toy: tuple[ToyTask, TaskData]) -> None:
    """Naming two k-means clusters by weak majority is far below self-training on the default variant;
    on ``classic`` (one Gaussian per class, a wide gap) it recovers most of the gap, which is why it went."""
    task, data = toy
    seeds = [0, 1, 2]
    clusters, best = _pgr(task, data, seeds, cluster.run), _pgr(task, data, seeds, bootstrap.run)
    assert interval(clusters)[2] < interval(best)[0], f"cluster {clusters} vs bootstrap {best}"
    assert interval(clusters)[1] < 0.0, clusters
    classic = ToyTask(ToyParams.variant("classic", data_seed=0))
    assert interval(_pgr(classic, classic.load(), seeds, cluster.run))[0] > 0.75


def _weak_probs(task: ToyTask, data: TaskData, seed: int) -> list[float]:
    from evaluator.compute.pipeline import EVAL, weak_run

    # The baselines' own weak model: the one scored methods learn from.
    return weak_run(task, data, seed, "cpu", Cache(None, task, "cpu"), role=EVAL).train_probs


@pytest.mark.slow
def test_training_length_matters(toy: tuple[ToyTask, TaskData]) -> None:
    """Longer training on weak labels memorises more of the weak errors."""
    task, data = toy
    labels = data["feedback"].y
    assert labels is not None
    n = len(labels)
    weak_probs = np.asarray(_weak_probs(task, data, 0))
    ctx = make_context(task, public_view(data), weak_probs, 0, "cpu")
    short = run_method(lambda c: vanilla.run(c, epochs=3), ctx)[:n]
    long = run_method(lambda c: vanilla.run(c, epochs=40), ctx)[:n]

    def acc(p: np.ndarray) -> float:
        return float(((p > 0.5) == labels).mean())

    assert acc(short) > acc(long) + 0.01


def test_public_bundle_cannot_regenerate_the_labels(toy: tuple[ToyTask, TaskData], tmp_path: Path) -> None:
    from evaluator.daemon.bundle import read_bundle, write_bundle

    task, data = toy
    write_bundle(task, data, {0: [0.5] * len(data["train_unlabel"])}, tmp_path / "bundle")
    for name in ("train_unlabel", "feedback", "final"):
        with np.load(tmp_path / "bundle" / f"{name}.npz") as f:
            assert "y" not in f.files
    bundle = read_bundle(tmp_path / "bundle")
    assert isinstance(bundle.task, ToyTask) and bundle.task.params.data_seed is None
    with pytest.raises(RuntimeError, match="public bundle"):
        bundle.task.load()
    assert "weak_train" not in bundle.data.splits and bundle.data["final"].y is None
    assert not (tmp_path / "bundle" / "weak_train.npz").exists(), "no ground truth of any split reaches a method"
