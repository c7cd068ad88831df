"""The training that every evaluation shares: weak model, ceiling, a method, per seed.

Runs where torch may load (the worker, the method runner, ``aar eval``).
Results of the weak model and of the baselines are cached by task key and
seed (and device kind), so a run, a resumed run and ``aar eval`` never train
the same baseline twice.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from evaluator.context import MethodContext, MethodFn, as_test_probs
from evaluator.tasks.base import Progress, Task, TaskData

CachedT = TypeVar("CachedT", bound=BaseModel)

CACHE_VERSION = 1


class WeakRun(BaseModel):
    """The weak model of one seed: its labels of ``train_unlabel`` and its test predictions."""

    seed: int
    train_probs: list[float]
    test_probs: list[float]
    """``feedback`` then ``final``."""
    seconds: float


class SeedBaseline(BaseModel):
    """Weak, ceiling and vanilla test predictions (P(y=1), ``feedback`` then ``final``) of one seed."""

    seed: int
    task_key: str
    device: str
    weak: list[float]
    ceiling: list[float]
    vanilla: list[float]
    seconds: dict[str, float]


def test_inputs(task: Task, data: TaskData) -> Any:
    """Strong-view ``feedback`` then ``final`` inputs, in the order predictions are given."""
    fb, fi = data["feedback"].strong_inputs, data["final"].strong_inputs
    return np.concatenate([fb, fi]) if isinstance(fb, np.ndarray) else list(fb) + list(fi)


def weak_test_inputs(data: TaskData) -> Any:
    fb, fi = data["feedback"].weak_inputs, data["final"].weak_inputs
    return np.concatenate([fb, fi]) if isinstance(fb, np.ndarray) else list(fb) + list(fi)


def train_weak(task: Task, data: TaskData, seed: int, device: str, progress: Progress | None = None) -> WeakRun:
    start = time.perf_counter()
    learner = task.weak_learner()
    wt = data["weak_train"]
    model = learner.fit(
        wt.weak_inputs,
        wt.labels.astype(np.float64),
        recipe=task.weak_recipe,
        seed=seed,
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
    task: Task, data: TaskData, weak_probs: np.ndarray, seed: int, device: str, progress: Progress | None = None
) -> MethodContext:
    """The method's view: inputs and weak labels, never a label of train_unlabel or the tests."""
    wt = data["weak_train"]
    return MethodContext(
        task=task.name,
        seed=seed,
        device=device,
        train_x=data["train_unlabel"].strong_x,
        weak_probs=np.asarray(weak_probs, dtype=np.float64),
        test_x=test_inputs(task, data),
        n_feedback=len(data["feedback"]),
        weak_train_x=wt.weak_x,
        weak_train_y=np.asarray(wt.y),
        recipe=task.strong_recipe,
        learner=task.strong_learner(),
        weak_learner=task.weak_learner(),
        weak_recipe=task.weak_recipe,
        progress=progress,
    )


def run_method(fn: MethodFn, ctx: MethodContext) -> np.ndarray:
    return as_test_probs(fn(ctx), ctx)


def public_view(data: TaskData) -> TaskData:
    """``data`` with every label a method may not see removed (weak_train keeps its own)."""
    from dataclasses import replace

    return TaskData({k: replace(v, y=v.y if k == "weak_train" else None) for k, v in data.splits.items()})


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
    task: Task, data: TaskData, seed: int, device: str, cache: Cache, progress: Progress | None = None
) -> WeakRun:
    found = cache.get(f"weak-{seed}.json", WeakRun)
    if found is None:
        found = train_weak(task, data, seed, device, progress)
        cache.put(f"weak-{seed}.json", found)
    return found


def seed_baseline(
    task: Task,
    data: TaskData,
    seed: int,
    device: str,
    cache: Cache,
    progress: Callable[[float, str], None] | None = None,
) -> SeedBaseline:
    """Weak, ceiling and vanilla of one seed, from the cache or trained now."""
    found = cache.get(f"baseline-{seed}.json", SeedBaseline)
    if found is not None:
        return found
    from evaluator.methods import vanilla

    def stage(lo: float, hi: float, label: str) -> Progress | None:
        return None if progress is None else (lambda f: progress(lo + (hi - lo) * f, label))

    seconds: dict[str, float] = {}
    weak = weak_run(task, data, seed, device, cache, stage(0.0, 0.2, "weak"))
    start = time.perf_counter()
    ceiling = train_ceiling(task, data, seed, device, stage(0.2, 0.6, "ceiling"))
    seconds["ceiling"] = time.perf_counter() - start
    start = time.perf_counter()
    ctx = make_context(task, public_view(data), np.asarray(weak.train_probs), seed, device, stage(0.6, 1.0, "vanilla"))
    van = run_method(vanilla.run, ctx)
    seconds["vanilla"] = time.perf_counter() - start
    seconds["weak"] = weak.seconds
    result = SeedBaseline(
        seed=seed,
        task_key=task.key,
        device=device,
        weak=weak.test_probs,
        ceiling=ceiling.tolist(),
        vanilla=van.tolist(),
        seconds=seconds,
    )
    cache.put(f"baseline-{seed}.json", result)
    return result
