"""The public task bundle (what every agent gets in ``<workspace>/task/``) and the held-out labels.

The bundle holds the inputs of ``train_unlabel``, ``feedback`` and ``final``
(both models' views), the weak labels of ``train_unlabel`` for each seed, and
a README: no ground-truth label of any split, and nothing of ``weak_train``
(the weak model's own training data stays with the evaluator). The labels of
``train_unlabel``, ``feedback`` and ``final`` go to ``<evaluator_dir>/heldout/``,
one file per split, which no sandbox ever mounts; the worker reads only
``feedback.json`` and ``aar report --final`` alone reads ``final.json``.

A verification sandbox gets a copy staged by ``stage_bundle``: the same files
with another set of weak labels (those scored, or the canary's), written the
same way whichever it is.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from aar.errors import AarError
from evaluator.compute.tasks import task_from_bundle
from evaluator.compute.tasks.base import Task, TaskData

BUNDLE_SCHEMA = 2
"""2: no ``weak_train`` (its ground truth and strong view are no method's business)."""
MANIFEST = "task.json"
WEAK_LABELS = "weak_labels.json"
WEAK_TEST = "weak_test.json"
HELDOUT = ("train_unlabel", "feedback", "final")
PUBLIC_SPLITS = HELDOUT
"""The splits whose inputs the bundle carries (their labels are held out)."""

README = """# The task bundle

Weak-to-strong supervision: raise PGR = (acc_transfer - acc_weak) / (acc_ceiling - acc_weak).

- `task.json`: the task ({task}), split sizes, seeds, the default training recipes.
- `train_unlabel.*`: inputs to train the strong model on (strong view, and the weak model's view);
  its labels are held out.
- `weak_labels.json`: the weak model's P(label = 1) for each `train_unlabel` input, one list per seed.
- `weak_test.json`: the same weak model's P(label = 1) for each test input (`feedback` then `final`), one list per seed.
  A verified method is scored with the labels of other weak models trained the same way (their own
  secret subsample of the weak model's training data and initialisation), never with these lists.
- `feedback.*`: public test inputs ({n_feedback}); submit one 0/1 per input, in order, to get a score
  (limited budget per agent). `final.*`: private test inputs, scored once at the end of the run.
- The weak model's training data is not here: methods learn from weak labels alone. Which weak model
  labels the data is a setting of the task, not of a method.

Write a method (a Python file defining `run(ctx)`; see the evaluator README for the API) and try it:

    python -m evaluator.compute.run_method my_method.py --bundle task --seed 0 --out preds.json

Reference methods to start from (`from evaluator.compute.methods import ...`): vanilla, confidence, filtering,
bootstrap, product, entropy, window, knn, s2s, early_stop;
`cluster` is the bar to clear (k-means clusters of the strong view named by the weak labels' majority).
No ground-truth label of any split is in this folder.
"""


@dataclass(frozen=True)
class WeakLabels:
    """One weak model's P(y=1): on ``train_unlabel`` (the labels methods learn from) and on the test inputs."""

    train: list[float]
    test: list[float] | None = None


@dataclass
class Bundle:
    """A bundle read back: the task, its public data and the weak labels per seed."""

    task: Task
    data: TaskData
    weak_probs: dict[int, np.ndarray]
    manifest: dict[str, Any]
    weak_test: dict[int, np.ndarray] = field(default_factory=dict)
    """The weak model's P(y=1) on the test inputs, per seed (empty in a bundle written without them)."""

    @property
    def seeds(self) -> list[int]:
        return sorted(self.weak_probs)


def write_bundle(task: Task, data: TaskData, weak_probs: Mapping[int, WeakLabels | list[float]], folder: Path) -> None:
    """Write the public bundle to ``folder`` atomically (a half-written bundle is never seen)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    tmp.chmod(0o755)  # a sandbox's non-root user must read it
    try:
        files = {name: task.save_inputs(replace(data[name], y=None), tmp) for name in PUBLIC_SPLITS}
        write_weak_labels(tmp, weak_probs)
        manifest = {
            "schema": BUNDLE_SCHEMA,
            "task": task.name,
            "task_key": task.key,
            "sizes": {name: len(data[name]) for name in PUBLIC_SPLITS},
            "seeds": sorted(weak_probs),
            "files": files,
            "spec": task.bundle_spec(tmp),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        (tmp / "README.md").write_text(README.format(task=task.name, n_feedback=len(data["feedback"])))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_weak_labels(folder: Path, weak: Mapping[int, WeakLabels | list[float]]) -> None:
    """``weak_labels.json`` (and ``weak_test.json`` where every seed has test predictions): one list per seed,
    each P(y=1) rounded to 6 digits."""
    sets = {s: v if isinstance(v, WeakLabels) else WeakLabels(list(v)) for s, v in sorted(weak.items())}
    (folder / WEAK_LABELS).write_text(json.dumps({str(s): _rounded(v.train) for s, v in sets.items()}))
    if sets and all(v.test is not None for v in sets.values()):
        (folder / WEAK_TEST).write_text(json.dumps({str(s): _rounded(v.test or []) for s, v in sets.items()}))


def _rounded(values: list[float]) -> list[float]:
    return [round(float(p), 6) for p in values]


def stage_bundle(source: Path, folder: Path, weak_probs: dict[int, WeakLabels]) -> None:
    """A copy of the bundle at ``source`` in ``folder`` with ``weak_probs`` as its weak labels.

    Scored runs and the canary are staged by this one function, so their files differ only in
    the numbers of ``weak_labels.json`` and ``weak_test.json``: the same names, order of writing and so of mtimes.
    The labels are written once, never rewritten after the copy.
    """
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns(WEAK_LABELS, WEAK_TEST, MANIFEST, "README.md"))
    write_weak_labels(folder, weak_probs)
    for name in (MANIFEST, "README.md"):
        shutil.copyfile(source / name, folder / name)


def read_bundle(folder: Path) -> Bundle:
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise AarError(f"no task bundle at {folder} (expected {MANIFEST}); pass --bundle task from your workspace")
    manifest = json.loads(path.read_text())
    if manifest.get("schema") != BUNDLE_SCHEMA:
        raise AarError(
            f"{path}: bundle schema {manifest.get('schema')} is not {BUNDLE_SCHEMA}; this aar cannot read it"
        )
    task = task_from_bundle(manifest["task"], manifest["spec"], folder)
    data = TaskData({name: task.load_inputs(name, folder) for name in PUBLIC_SPLITS})
    for name in PUBLIC_SPLITS:
        data[name].y = None  # whatever is on disk, a method never gets a label
    weak = _read_lists(folder / WEAK_LABELS)
    test = _read_lists(folder / WEAK_TEST) if (folder / WEAK_TEST).is_file() else {}
    return Bundle(task, data, weak, manifest, test)


def _read_lists(path: Path) -> dict[int, np.ndarray]:
    return {int(s): np.asarray(v, dtype=np.float64) for s, v in json.loads(path.read_text()).items()}


def write_heldout(data: TaskData, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in HELDOUT:
        (folder / f"{name}.json").write_text(json.dumps([int(v) for v in data[name].labels]))
        subsets = data[name].subsets
        if subsets is not None:
            (folder / f"{name}{SUBSETS}").write_text(json.dumps(subsets))


SUBSETS = "_subsets.json"
"""Beside a split's held-out labels: each row's subset, where the data names them."""


def read_subsets(folder: Path, split: str) -> list[str] | None:
    """Each row's subset of ``split``; None where the task names none."""
    path = folder / f"{split}{SUBSETS}"
    return [str(s) for s in json.loads(path.read_text())] if path.is_file() else None


def read_heldout(folder: Path, split: str) -> np.ndarray:
    path = folder / f"{split}.json"
    if not path.is_file():
        raise AarError(f"held-out labels of {split!r} are missing at {path}; was the run prepared by the daemon?")
    return np.asarray(json.loads(path.read_text()), dtype=np.int64)
