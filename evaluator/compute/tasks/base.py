"""What a weak-to-strong task is: four splits, two views, two learners, two recipes.

A task hands the evaluator its data with every label (``TaskData``) and hands
methods only what the public bundle holds: inputs and weak labels, no ground truth. The weak model learns from
``weak_train`` (ground truth, weak view) and labels ``train_unlabel``; the
strong model learns from ``train_unlabel`` (strong view) with those weak labels
(transfer) or with the held-out ground truth (ceiling); both are tested on
``feedback`` (public inputs, scored on request) and ``final`` (scored once).

Torch is imported only inside learners, so this module stays light.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aar.errors import AarError

Inputs = Any
"""What a model reads: a float32 ``np.ndarray`` (toy) or a ``list[str]`` (jsonl)."""
Progress = Callable[[float], None]
"""Called with the fraction done (0..1) as training goes."""
LossFn = Any
"""An ``evaluator.compute.loss.Loss`` (it sees the whole ``LossBatch``), or the older
``loss(logits [B, 2], targets [B] = P(y=1), progress 0..1) -> per-example loss [B]`` (torch tensors)."""

SPLITS = ("weak_train", "train_unlabel", "feedback", "final")


class MethodError(AarError):
    """A method used the API wrongly (a loss of the wrong shape, a layer out of range, a callback that
    raised): the job fails with this one line, and nothing already recorded is lost."""


SCHEDULES = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: the knobs a method may override."""

    epochs: float
    lr: float
    batch_size: int
    weight_decay: float = 0.0
    schedule: str = "constant"
    """The learning rate after warm-up: ``constant``, or decayed to 0 by the end, ``linear`` or ``cosine``."""
    warmup: float = 0.0
    """The share of optimizer steps over which the learning rate rises linearly from 0 (0..1)."""

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise MethodError(f"schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        if not 0 <= self.warmup < 1:
            raise MethodError(f"warmup is a share of the steps, in [0, 1); got {self.warmup}")

    def replace(self, **changes: Any) -> Recipe:
        fields = {**self.__dict__, **{k: v for k, v in changes.items() if v is not None}}
        return Recipe(**fields)


@dataclass
class Split:
    """One split: what each model sees of it, and its labels when the holder may know them."""

    name: str
    weak_x: Inputs | None
    strong_x: Inputs | None
    y: np.ndarray | None = None
    subsets: list[str] | None = None
    """Each row's ``subset`` where the data names one (in-distribution, out-of-distribution): PGR is reported
    per subset too. Not secret, but kept with the held-out labels, which is where the scorer reads it."""

    def __len__(self) -> int:
        return len(self.strong_x if self.strong_x is not None else self.weak_inputs)

    @property
    def weak_inputs(self) -> Inputs:
        """What the weak model reads; raises where this holder was not given it."""
        if self.weak_x is None:
            raise AarError(f"the {self.name} split has no weak-model inputs here")
        return self.weak_x

    @property
    def strong_inputs(self) -> Inputs:
        """What the strong model reads; raises where this holder was not given it."""
        if self.strong_x is None:
            raise AarError(f"the {self.name} split has no strong-model inputs here")
        return self.strong_x

    @property
    def labels(self) -> np.ndarray:
        """The ground truth; raises where it is held out (a sandbox's bundle never has it)."""
        if self.y is None:
            raise AarError(f"the {self.name} split's labels are held out here")
        return self.y


@dataclass
class TaskData:
    splits: dict[str, Split] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Split:
        return self.splits[name]


class Learner(ABC):
    """A model family and how to train it on soft binary targets."""

    @abstractmethod
    def fit(
        self,
        x: Inputs,
        targets: np.ndarray,
        *,
        recipe: Recipe,
        seed: int,
        device: str,
        loss: LossFn | None = None,
        weights: np.ndarray | None = None,
        progress: Progress | None = None,
        columns: dict[str, np.ndarray] | None = None,
        hooks: Any = None,
        init: Any = None,
    ) -> Any:
        """Train a model on ``targets`` (P(y=1) per example); return it. A fresh one from the checkpoint,
        or, with ``init``, a copy of that trained model (warm start; ``init`` itself is left as it was).
        ``columns`` reach the loss per example; ``hooks`` (``evaluator.compute.hooks.Hooks``) run callbacks."""

    @abstractmethod
    def predict_proba(self, model: Any, x: Inputs, *, device: str) -> np.ndarray:
        """P(y=1) for every input."""

    @abstractmethod
    def logits(self, model: Any, x: Inputs, *, device: str) -> np.ndarray:
        """The two-class logits ``[n, 2]`` of a trained model for every input."""

    @abstractmethod
    def embed(self, model: Any, x: Inputs, *, device: str, layer: int = -1) -> np.ndarray:
        """Features ``[n, d]`` of every input: of the trained ``model``, or with ``model=None`` of the frozen
        checkpoint (the strong view itself on toy). ``layer`` indexes the hidden states (-1: the last)."""

    def zero_shot(self, texts: list[str], template: str, label_words: list[str], *, device: str) -> np.ndarray:
        """Log-probabilities ``[n, len(label_words)]`` of each label word after the filled template."""
        raise MethodError("zero_shot prompts a language model: it runs on the jsonl task's decoder checkpoints")


class Task(ABC):
    """A weak-to-strong task. ``load`` is for the evaluator; bundles carry the public part."""

    name: str
    weak_recipe: Recipe
    strong_recipe: Recipe
    cache_dir: Path | None = None
    """Where the task may keep data derived from its inputs (tokenized splits); set by the pipeline's cache."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that changes the data or the models (hashed into cache keys)."""

    @abstractmethod
    def load(self) -> TaskData:
        """Every split, labels included."""

    @abstractmethod
    def weak_learner(self) -> Learner: ...

    @abstractmethod
    def strong_learner(self) -> Learner: ...

    @abstractmethod
    def save_inputs(self, split: Split, folder: Path) -> list[str]:
        """Write a split's inputs (never its labels) to ``folder``; return the file names."""

    @abstractmethod
    def load_inputs(self, name: str, folder: Path) -> Split:
        """Read back what ``save_inputs`` wrote."""

    def bundle_spec(self, folder: Path) -> dict[str, Any]:
        """What ``from_bundle`` needs to rebuild this task inside a sandbox; may copy public
        assets (model checkpoints) into ``folder``. Never anything held out."""
        return self.identity()

    @classmethod
    @abstractmethod
    def from_bundle(cls, spec: dict[str, Any], folder: Path) -> Task:
        """The task as a method runner sees it, from a public bundle."""

    @property
    def key(self) -> str:
        """Short stable hash of ``identity`` (cache folders are named by it)."""
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
