"""``jsonl``: the AAR study's format, with local Hugging Face checkpoints (extra ``hf``).

A data folder holds ``train_label.jsonl`` (ground truth: trains the weak
model, and never leaves the evaluator), ``train_unlabel.jsonl`` (its labels are held out: they train only the
ceiling) and ``test.jsonl`` (split by a fixed shuffle into ``feedback`` and
``final`` halves). Each line is a JSON object with a ``label`` (0/1) and a
``text``; rows without ``text`` are rendered from their other string fields
(``question: ... / answer: ...``). Both models read the same text and are
fine-tuned as two-class sequence classifiers; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from aar.config import TrainingConfig
from aar.errors import AarError
from evaluator.compute.hf.learner import HFLearner, check_checkpoint
from evaluator.compute.tasks.base import Learner, Recipe, Split, Task, TaskData

FILES = {"weak_train": "train_label.jsonl", "train_unlabel": "train_unlabel.jsonl", "test": "test.jsonl"}
LABEL_KEYS = ("label", "labels", "answer_label")


def row_text(row: dict[str, Any]) -> str:
    if isinstance(row.get("text"), str):
        return str(row["text"])
    parts = [f"{k}: {v}" for k, v in row.items() if isinstance(v, str) and k not in ("id", "uid")]
    if not parts:
        raise ValueError("a row has no 'text' and no other string field")
    return "\n".join(parts)


def row_label(row: dict[str, Any]) -> int:
    for key in LABEL_KEYS:
        if key in row:
            value = row[key]
            if isinstance(value, bool) or value in (0, 1):
                return int(value)
            raise ValueError(f"{key} must be 0 or 1, got {value!r}")
    raise ValueError("a row has no 'label' (0/1)")


def read_subsets(path: Path) -> list[str] | None:
    """Each row's ``subset`` (a string) where every row has one; None where none has; a row without one among
    rows with one is an error naming the line."""
    subsets: list[str | None] = []
    for line in path.read_text().splitlines():
        if line.strip():
            value = json.loads(line).get("subset")
            subsets.append(None if value is None else str(value))
    if all(s is None for s in subsets):
        return None
    missing = next((n for n, s in enumerate(subsets, 1) if s is None), None)
    if missing is not None:
        raise AarError(f"{path.name}: row {missing} has no 'subset' while others do; give every row one, or none")
    return [str(s) for s in subsets]


@overload
def read_jsonl(path: Path, *, labels: Literal[True]) -> tuple[list[str], np.ndarray]: ...
@overload
def read_jsonl(path: Path, *, labels: bool) -> tuple[list[str], np.ndarray | None]: ...
def read_jsonl(path: Path, *, labels: bool) -> tuple[list[str], np.ndarray | None]:
    if not path.is_file():
        raise AarError(f"{path} is missing: a jsonl task folder needs {', '.join(FILES.values())}")
    texts, ys = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            texts.append(row_text(row))
            if labels:
                ys.append(row_label(row))
        except ValueError as exc:
            raise AarError(f"{path.name}:{n}: {exc}") from None
    if not texts:
        raise AarError(f"{path} has no rows")
    return texts, (np.asarray(ys, dtype=np.int64) if labels else None)


class JsonlTask(Task):
    name = "jsonl"

    def __init__(
        self,
        data_dir: Path | None,
        weak_model: Path,
        strong_model: Path,
        *,
        weak_recipe: Recipe | None = None,
        strong_recipe: Recipe | None = None,
        training: TrainingConfig | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.weak_model = Path(weak_model)
        self.strong_model = Path(strong_model)
        for folder in (self.weak_model, self.strong_model):
            check_checkpoint(folder)
        self.weak_recipe = weak_recipe or Recipe(epochs=2, lr=5e-5, batch_size=16, weight_decay=0.01)
        self.strong_recipe = strong_recipe or Recipe(epochs=2, lr=2e-5, batch_size=16, weight_decay=0.01)
        self.training = training or TrainingConfig()
        self._identity: dict[str, Any] | None = None
        """The identity a bundle recorded (a bundle's task has no data folder to derive it from)."""

    @property
    def max_length(self) -> int:
        return self.training.max_length

    def identity(self) -> dict[str, Any]:
        return {
            "task": self.name,
            "data": _digest([self.data_dir / f for f in FILES.values()]) if self.data_dir else None,
            "weak_model": _digest(sorted(self.weak_model.glob("*.json"))),
            "strong_model": _digest(sorted(self.strong_model.glob("*.json"))),
            "weak": self.weak_recipe.__dict__,
            "strong": self.strong_recipe.__dict__,
            "max_length": self.max_length,
            "training": self.training.model_dump(mode="json", exclude={"peak_tflops"}),
        }

    def load(self) -> TaskData:
        if self.data_dir is None:
            raise RuntimeError("this jsonl task came from a public bundle: its data is in the bundle's files")
        wt_x, wt_y = read_jsonl(self.data_dir / FILES["weak_train"], labels=True)
        tu_x, tu_y = read_jsonl(self.data_dir / FILES["train_unlabel"], labels=True)
        te_x, te_y = read_jsonl(self.data_dir / FILES["test"], labels=True)
        subsets = read_subsets(self.data_dir / FILES["test"])
        order = np.random.default_rng(0).permutation(len(te_x))
        half = len(order) // 2
        if half == 0:
            raise AarError(f"{self.data_dir / FILES['test']} needs at least 2 rows (feedback and final halves)")
        fb, fi = order[:half], order[half:]
        return TaskData(
            {
                "weak_train": Split("weak_train", wt_x, wt_x, wt_y),
                "train_unlabel": Split("train_unlabel", tu_x, tu_x, tu_y),
                "feedback": Split(
                    "feedback",
                    [te_x[i] for i in fb],
                    [te_x[i] for i in fb],
                    te_y[fb],
                    None if subsets is None else [subsets[i] for i in fb],
                ),
                "final": Split(
                    "final",
                    [te_x[i] for i in fi],
                    [te_x[i] for i in fi],
                    te_y[fi],
                    None if subsets is None else [subsets[i] for i in fi],
                ),
            }
        )

    def weak_learner(self) -> Learner:
        return self._learner(self.weak_model, self.training.weak)

    def strong_learner(self) -> Learner:
        return self._learner(self.strong_model, self.training.strong)

    def _learner(self, checkpoint: Path, options: Any) -> Learner:
        cache = None if self.cache_dir is None else self.cache_dir / "tokens-v1"
        return HFLearner(checkpoint, self.max_length, options=options, training=self.training, cache=cache)

    def bundle_spec(self, folder: Path) -> dict[str, Any]:
        for name, src in (("weak", self.weak_model), ("strong", self.strong_model)):
            _link_tree(src, folder / "models" / name)
        return {
            "weak_model": "models/weak",
            "strong_model": "models/strong",
            "max_length": self.max_length,
            "training": self.training.model_dump(mode="json"),
            "weak": self.weak_recipe.__dict__,
            "strong": self.strong_recipe.__dict__,
            "identity": self.identity(),
        }

    @classmethod
    def from_bundle(cls, spec: dict[str, Any], folder: Path) -> JsonlTask:
        task = cls(
            None,
            folder / spec["weak_model"],
            folder / spec["strong_model"],
            weak_recipe=Recipe(**spec["weak"]),
            strong_recipe=Recipe(**spec["strong"]),
            training=TrainingConfig.model_validate(spec.get("training", {"max_length": spec["max_length"]})),
        )
        task._identity = spec["identity"]
        return task

    @property
    def key(self) -> str:
        ident = self._identity or self.identity()
        return f"{self.name}-{hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]}"

    def save_inputs(self, split: Split, folder: Path) -> list[str]:
        path = folder / f"{split.name}.jsonl"
        with path.open("w") as f:
            for text in split.strong_inputs:
                f.write(json.dumps({"text": text}) + "\n")
        return [path.name]

    def load_inputs(self, name: str, folder: Path) -> Split:
        texts, _ = read_jsonl(folder / f"{name}.jsonl", labels=False)
        return Split(name, texts, texts)


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _link_tree(src: Path, dst: Path) -> None:
    """Copy a checkpoint folder, hard-linking files where the filesystem allows (weights are large)."""
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        target = dst / item.name
        if item.is_dir():
            _link_tree(item, target)
            continue
        try:
            os.link(item, target)
        except OSError:
            shutil.copy2(item, target)
