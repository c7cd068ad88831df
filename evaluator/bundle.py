"""The public task bundle (what every agent gets in ``<workspace>/task/``) and the held-out labels.

The bundle holds the inputs of every split, the ground truth of
``weak_train`` only (the weak model's own training data), the weak labels of
``train_unlabel`` for each evaluation seed, and a README. The labels of
``train_unlabel``, ``feedback`` and ``final`` go to ``<evaluator_dir>/heldout/``,
one file per split, which no sandbox ever mounts; the worker reads only
``feedback.json`` and ``aar report --final`` alone reads ``final.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aar.errors import AarError
from evaluator.tasks import task_from_bundle
from evaluator.tasks.base import SPLITS, Task, TaskData

BUNDLE_SCHEMA = 1
MANIFEST = "task.json"
WEAK_LABELS = "weak_labels.json"
HELDOUT = ("train_unlabel", "feedback", "final")

README = """# The task bundle

Weak-to-strong supervision: raise PGR = (acc_transfer - acc_weak) / (acc_ceiling - acc_weak).

- `task.json`: the task ({task}), split sizes, seeds, the default training recipes.
- `weak_train.*`: the weak model's training data, with ground truth (weak view).
- `train_unlabel.*`: inputs to train the strong model on; its labels are held out.
- `weak_labels.json`: the weak model's P(label = 1) for each `train_unlabel` input, one list per seed.
- `feedback.*`: public test inputs ({n_feedback}); submit one 0/1 per input, in order, to get a score
  (limited budget per agent). `final.*`: private test inputs, scored once at the end of the run.

Write a method (a Python file defining `run(ctx)`; see the evaluator README for the API) and try it:

    python -m evaluator.run_method my_method.py --bundle task --seed 0 --out preds.json

Reference methods to start from: `from evaluator.methods import vanilla, confidence, filtering, bootstrap`.
No label of `train_unlabel`, `feedback` or `final` is in this folder.
"""


@dataclass
class Bundle:
    """A bundle read back: the task, its public data and the weak labels per seed."""

    task: Task
    data: TaskData
    weak_probs: dict[int, np.ndarray]
    manifest: dict[str, Any]

    @property
    def seeds(self) -> list[int]:
        return sorted(self.weak_probs)


def write_bundle(task: Task, data: TaskData, weak_probs: dict[int, list[float]], folder: Path) -> None:
    """Write the public bundle to ``folder`` atomically (a half-written bundle is never seen)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    tmp.chmod(0o755)  # a sandbox's non-root user must read it
    try:
        files = {name: task.save_inputs(data[name], tmp, with_labels=name == "weak_train") for name in SPLITS}
        (tmp / WEAK_LABELS).write_text(
            json.dumps({str(s): [round(p, 6) for p in v] for s, v in sorted(weak_probs.items())})
        )
        manifest = {
            "schema": BUNDLE_SCHEMA,
            "task": task.name,
            "task_key": task.key,
            "sizes": {name: len(data[name]) for name in SPLITS},
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
    data = TaskData({name: task.load_inputs(name, folder) for name in SPLITS})
    for name in HELDOUT:
        data[name].y = None  # whatever is on disk, a method never gets these labels
    weak = {int(s): np.asarray(v, dtype=np.float64) for s, v in json.loads((folder / WEAK_LABELS).read_text()).items()}
    return Bundle(task, data, weak, manifest)


def write_heldout(data: TaskData, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in HELDOUT:
        (folder / f"{name}.json").write_text(json.dumps([int(v) for v in data[name].labels]))


def read_heldout(folder: Path, split: str) -> np.ndarray:
    path = folder / f"{split}.json"
    if not path.is_file():
        raise AarError(f"held-out labels of {split!r} are missing at {path}; was the run prepared by the daemon?")
    return np.asarray(json.loads(path.read_text()), dtype=np.int64)
