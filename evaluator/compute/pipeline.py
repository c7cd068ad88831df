"""The training that every evaluation shares: weak model, ceiling, a method, per seed.

Runs where torch may load (the worker, the method runner, ``aar eval``).
Results of the weak model and of the baselines are cached by task key and
seed (and device kind), so a run, a resumed run and ``aar eval`` never train
the same baseline twice.

Each weak model learns from a subsample of ``weak_train`` drawn, with its
initialisation, from a secret key: the run's secret, a role and the seed.
The public bundle carries the labels of the ``public`` weak models (agents try
their methods on them); baselines and verified methods use the ``eval`` ones,
and the canary the ``canary`` ones. All three are the same kind of weak model,
so a method cannot tell the canary's labels from the labels it is scored on,
and neither matches the labels an agent could copy into its method.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from pydantic import BaseModel

from evaluator.compute.context import MethodContext, MethodFn, as_test_probs
from evaluator.compute.tasks.base import Progress, Task, TaskData

if TYPE_CHECKING:
    from evaluator.daemon.bundle import WeakLabels

CachedT = TypeVar("CachedT", bound=BaseModel)

CACHE_VERSION = 3

PUBLIC, EVAL, CANARY = "public", "eval", "canary"
"""Roles of weak models: labels in the public bundle, labels scored, labels of the canary."""
WEAK_SUBSAMPLE = 0.5
"""Share of ``weak_train`` each weak model learns from (its own secret draw)."""


def weak_key(secret: int, role: str, seed: int) -> int:
    """The 62-bit key that draws one weak model's subsample and initialisation."""
    digest = hashlib.sha256(f"{secret}:{role}:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 2


class WeakRun(BaseModel):
    """The weak model of one seed: its labels of ``train_unlabel`` and its test predictions."""

    seed: int
    train_probs: list[float]
    test_probs: list[float]
    """``feedback`` then ``final``."""
    seconds: float

    def labels(self) -> WeakLabels:
        """What a bundle carries of this weak model."""
        from evaluator.daemon.bundle import WeakLabels

        return WeakLabels(self.train_probs, self.test_probs)


class SeedBaseline(BaseModel):
    """Weak, ceiling, vanilla and unsupervised test predictions (P(y=1), ``feedback`` then ``final``) of one seed."""

    seed: int
    task_key: str
    device: str
    weak: list[float]
    ceiling: list[float]
    vanilla: list[float]
    unsupervised: list[float]
    """The ``cluster`` reference: k-means clusters of the strong features named by the weak labels' majority."""
    seconds: dict[str, float]


def test_inputs(task: Task, data: TaskData) -> Any:
    """Strong-view ``feedback`` then ``final`` inputs, in the order predictions are given."""
    fb, fi = data["feedback"].strong_inputs, data["final"].strong_inputs
    return np.concatenate([fb, fi]) if isinstance(fb, np.ndarray) else list(fb) + list(fi)


def weak_test_inputs(data: TaskData) -> Any:
    fb, fi = data["feedback"].weak_inputs, data["final"].weak_inputs
    return np.concatenate([fb, fi]) if isinstance(fb, np.ndarray) else list(fb) + list(fi)


def train_weak(
    task: Task, data: TaskData, seed: int, device: str, progress: Progress | None = None, *, key: int | None = None
) -> WeakRun:
    """The weak model of ``seed``: trained on ground truth of the subsample that ``key`` draws
    (all of ``weak_train`` without a key), initialised from ``key`` (or ``seed``)."""
    start = time.perf_counter()
    learner = task.weak_learner()
    wt = data["weak_train"]
    x, y = wt.weak_inputs, wt.labels.astype(np.float64)
    if key is not None:
        rng = np.random.default_rng(key)
        idx = np.sort(rng.permutation(len(y))[: max(1, round(WEAK_SUBSAMPLE * len(y)))])
        x = x[idx] if isinstance(x, np.ndarray) else [x[int(i)] for i in idx]
        y = y[idx]
    model = learner.fit(
        x,
        y,
        recipe=task.weak_recipe,
        seed=seed if key is None else key % 2**31,
        device=device,
        progress=progress,
    )
    train = learner.predict_proba(model, data["train_unlabel"].weak_x, device=device)
    test = learner.predict_proba(model, weak_test_inputs(data), device=device)
    return WeakRun(seed=seed, train_probs=train.tolist(), test_probs=test.tolist(), seconds=time.perf_counter() - start)


def train_ceiling(task: Task, data: TaskData, seed: int, device: str, progress: Progress | None = None) -> np.ndarray:
    """The strong model trained on ground truth: the top of the PGR scale."""
    tu = data["train_unlabel"]
    learner = task.strong_learner()
    model = learner.fit(
        tu.strong_x,
        tu.labels.astype(np.float64),
        recipe=task.strong_recipe,
        seed=seed * 1009,
        device=device,
        progress=progress,
    )
    return learner.predict_proba(model, test_inputs(task, data), device=device)


def make_context(
    task: Task,
    data: TaskData,
    weak_probs: np.ndarray,
    seed: int,
    device: str,
    progress: Progress | None = None,
    *,
    weak_test_probs: np.ndarray | list[float] | None = None,
) -> MethodContext:
    """The method's view: inputs and weak labels, never a ground-truth label of any split."""
    tu = data["train_unlabel"]
    return MethodContext(
        task=task.name,
        seed=seed,
        device=device,
        train_x=tu.strong_x,
        weak_probs=np.asarray(weak_probs, dtype=np.float64),
        test_x=test_inputs(task, data),
        n_feedback=len(data["feedback"]),
        weak_x=tu.weak_x,
        weak_test_x=weak_test_inputs(data),
        weak_test_probs=None if weak_test_probs is None else np.asarray(weak_test_probs, dtype=np.float64),
        recipe=task.strong_recipe,
        learner=task.strong_learner(),
        weak_learner=task.weak_learner(),
        progress=progress,
    )


def run_method(fn: MethodFn, ctx: MethodContext) -> np.ndarray:
    return as_test_probs(fn(ctx), ctx)


def public_view(data: TaskData) -> TaskData:
    """What a method may see of ``data``: no label of any split, and no ``weak_train`` at all."""
    from dataclasses import replace

    return TaskData({k: replace(v, y=None) for k, v in data.splits.items() if k != "weak_train"})


# ---------------------------------------------------------------- cache


class Cache:
    """JSON files under ``root/<task key>/<device>/``; writes are atomic, so a killed worker leaves none half-written."""

    def __init__(self, root: Path | None, task: Task, device: str) -> None:
        self.folder = None if root is None else Path(root) / task.key / f"{device.split(':')[0]}-v{CACHE_VERSION}"
        if root is not None:
            task.cache_dir = Path(root) / task.key  # derived data of the task (tokenized splits) sits beside

    def get(self, name: str, model: type[CachedT]) -> CachedT | None:
        if self.folder is None or not (self.folder / name).exists():
            return None
        try:
            return model.model_validate_json((self.folder / name).read_text())
        except ValueError:
            return None  # a cache file from another version: recompute

    def put(self, name: str, value: BaseModel) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            f.write(value.model_dump_json())
        os.replace(tmp, self.folder / name)


def weak_run(
    task: Task,
    data: TaskData,
    seed: int,
    device: str,
    cache: Cache,
    progress: Progress | None = None,
    *,
    role: str = EVAL,
    secret: int = 0,
) -> WeakRun:
    """The weak model of ``role`` and ``seed`` under the run's ``secret``, from the cache or trained now."""
    key = weak_key(secret, role, seed)
    name = f"weak-{role}-{seed}-{key:016x}.json"
    found = cache.get(name, WeakRun)
    if found is None:
        found = train_weak(task, data, seed, device, progress, key=key)
        cache.put(name, found)
    return found


def baseline_name(seed: int, secret: int) -> str:
    """The cache file of one seed's baselines (named by its ``eval`` weak model)."""
    return f"baseline-{seed}-{weak_key(secret, EVAL, seed):016x}.json"


def seed_baseline(
    task: Task,
    data: TaskData,
    seed: int,
    device: str,
    cache: Cache,
    progress: Callable[[float, str], None] | None = None,
    *,
    secret: int = 0,
) -> SeedBaseline:
    """Weak (the ``eval`` weak model), ceiling, vanilla and the unsupervised reference of one seed, from the
    cache or trained now."""
    name = baseline_name(seed, secret)
    found = cache.get(name, SeedBaseline)
    if found is not None:
        return found
    from evaluator.compute.methods import cluster, vanilla

    def stage(lo: float, hi: float, label: str) -> Progress | None:
        return None if progress is None else (lambda f: progress(lo + (hi - lo) * f, label))

    seconds: dict[str, float] = {}
    weak = weak_run(task, data, seed, device, cache, stage(0.0, 0.2, "weak"), role=EVAL, secret=secret)
    start = time.perf_counter()
    ceiling = train_ceiling(task, data, seed, device, stage(0.2, 0.6, "ceiling"))
    seconds["ceiling"] = time.perf_counter() - start
    start = time.perf_counter()
    ctx = make_context(
        task,
        public_view(data),
        np.asarray(weak.train_probs),
        seed,
        device,
        stage(0.6, 1.0, "vanilla"),
        weak_test_probs=weak.test_probs,
    )
    van = run_method(vanilla.run, ctx)
    seconds["vanilla"] = time.perf_counter() - start
    start = time.perf_counter()
    unsupervised = run_method(cluster.run, ctx)
    seconds["unsupervised"] = time.perf_counter() - start
    seconds["weak"] = weak.seconds
    result = SeedBaseline(
        seed=seed,
        task_key=task.key,
        device=device,
        weak=weak.test_probs,
        ceiling=ceiling.tolist(),
        vanilla=van.tolist(),
        unsupervised=unsupervised.tolist(),
        seconds=seconds,
    )
    cache.put(name, result)
    return result
