"""The ``digits`` task: scikit-learn's images offline, split by the run's secret data seed, a pooled and noisy
weak view, a bundle that carries what the toy's does and no more, and a ``[task]`` table that validates.
Its PGRs over 5 seeds are bench/methods.py's (``--task digits``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aar.config import load_config
from aar.config.task import DigitsTaskConfig
from aar.errors import ConfigError
from evaluator.compute.methods import cluster
from evaluator.compute.pipeline import EVAL, Cache, make_context, public_view, run_method, seed_baseline, weak_run
from evaluator.compute.tasks import load_task
from evaluator.compute.tasks.base import TaskData
from evaluator.compute.tasks.digits import SPLIT_SIZES, DigitsParams, DigitsTask
from evaluator.daemon.bundle import read_bundle, write_bundle


@pytest.fixture(scope="module")
def digits() -> tuple[DigitsTask, TaskData]:
    task = DigitsTask(DigitsParams(data_seed=0))
    return task, task.load()


def test_every_image_lands_in_one_split(digits: tuple[DigitsTask, TaskData]) -> None:
    _, data = digits
    assert {name: len(split) for name, split in data.splits.items()} == SPLIT_SIZES
    assert sum(SPLIT_SIZES.values()) == 1797, "all of load_digits, none twice"
    for split in data.splits.values():
        assert 0.35 < split.labels.mean() < 0.65, "odd against even: balanced in every split"
        assert split.strong_inputs.min() >= 0 and split.strong_inputs.max() <= 1


def test_the_secret_seed_draws_the_split(digits: tuple[DigitsTask, TaskData]) -> None:
    _, data = digits
    again = DigitsTask(DigitsParams(data_seed=0)).load()
    other = DigitsTask(DigitsParams(data_seed=1)).load()
    np.testing.assert_array_equal(again["final"].strong_inputs, data["final"].strong_inputs)
    assert not np.array_equal(other["final"].strong_inputs, data["final"].strong_inputs)


def test_the_weak_view_is_a_coarser_image(digits: tuple[DigitsTask, TaskData]) -> None:
    _, data = digits
    split = data["train_unlabel"]
    assert split.strong_inputs.shape[1] == 64 and split.weak_inputs.shape[1] == 16
    coarse = DigitsTask(DigitsParams(weak_pool=4, weak_noise=0.0, data_seed=0)).load()["train_unlabel"]
    assert coarse.weak_inputs.shape[1] == 4
    # Without noise the 2x2 view is the mean of each 4x4 quarter of the image.
    quarter = coarse.strong_inputs.reshape(-1, 8, 8)[:, :4, :4].mean(axis=(1, 2))
    np.testing.assert_allclose(coarse.weak_inputs[:, 0], quarter, atol=1e-6)
    with pytest.raises(ValueError, match="does not divide"):
        DigitsTask(DigitsParams(weak_pool=3))


def test_the_bundle_carries_no_label_and_cannot_redraw_the_split(
    digits: tuple[DigitsTask, TaskData], tmp_path: Path
) -> None:
    task, data = digits
    write_bundle(task, data, {0: [0.5] * len(data["train_unlabel"])}, tmp_path / "bundle")
    for name in ("train_unlabel", "feedback", "final"):
        with np.load(tmp_path / "bundle" / f"{name}.npz") as f:
            assert sorted(f.files) == ["strong_x", "weak_x"]
    assert not (tmp_path / "bundle" / "weak_train.npz").exists(), "no ground truth of any split reaches a method"
    spec = json.loads((tmp_path / "bundle" / "task.json").read_text())["spec"]
    assert spec["params"]["data_seed"] is None
    bundle = read_bundle(tmp_path / "bundle")
    assert isinstance(bundle.task, DigitsTask) and bundle.task.key != task.key
    assert bundle.data["final"].y is None and "weak_train" not in bundle.data.splits
    with pytest.raises(RuntimeError, match="public bundle"):
        bundle.task.load()


def test_the_task_modules_import_without_scikit_learn() -> None:
    """scikit-learn loads inside ``load``, never when the registry or the config is imported."""
    probe = (
        "import sys, aar.config, evaluator.compute.tasks, evaluator.compute.tasks.digits; "
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.slow  # three trainings; the first in a process also warms torch up
def test_baselines_and_a_method_run_for_one_seed(digits: tuple[DigitsTask, TaskData]) -> None:
    task, data = digits
    labels = data["feedback"].labels
    n = len(labels)
    cache = Cache(None, task, "cpu")
    base = seed_baseline(task, data, 0, "cpu", cache)
    total = len(data["feedback"]) + len(data["final"])
    assert len(base.weak) == len(base.ceiling) == len(base.vanilla) == total

    def acc(probs: list[float]) -> float:
        return float(((np.asarray(probs)[:n] > 0.5) == labels).mean())

    assert acc(base.weak) < acc(base.ceiling) - 0.1, "a gap to recover"
    assert acc(base.ceiling) > 0.9
    weak = np.asarray(weak_run(task, data, 0, "cpu", cache, role=EVAL).train_probs)
    probs = run_method(cluster.run, make_context(task, public_view(data), weak, 0, "cpu"))
    assert probs.shape == (total,)


def test_the_config_names_digits_and_its_knobs_reach_the_task() -> None:
    config = load_config({"task": {"name": "digits", "weak_noise": 0.3}})
    assert isinstance(config.task, DigitsTaskConfig)
    task = load_task(config.task, data_seed=5)
    assert isinstance(task, DigitsTask)
    assert task.params == DigitsParams(weak_pool=2, weak_noise=0.3, data_seed=5)
    assert task.key != load_task(config.task, data_seed=6).key


def test_a_wrong_digits_table_is_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"task": {"name": "digits", "size": 500}})
    assert str(caught.value).splitlines() == ["config: task.size: unknown key (allowed: name, weak_pool, weak_noise)"]
    with pytest.raises(ConfigError) as pool:
        load_config({"task": {"name": "digits", "weak_pool": 3}})
    assert str(pool.value).splitlines() == ["config: task.weak_pool: Input should be 2 or 4 (got 3)"]
