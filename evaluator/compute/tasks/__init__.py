"""Built-in tasks: ``toy`` (synthetic, CPU, seconds), ``digits`` (scikit-learn's handwritten digits, CPU,
seconds) and ``jsonl`` (the AAR format with HF checkpoints).

``TASKS`` is the registry: a task's name, the config model that names it (one member of
:data:`aar.config.TaskConfig`) and how to build it from that config or from a bundle.
A new task adds its config model there and one entry here; nothing else branches on names.
Each builder imports its task module when called, so nothing heavy loads with this package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from aar.config import JsonlTaskConfig, TaskConfig, ToyTaskConfig, TrainingConfig
from aar.config.task import DigitsTaskConfig
from aar.errors import AarError
from evaluator.compute.tasks.base import Recipe, Split, Task, TaskData

__all__ = ["TASKS", "Recipe", "Split", "Task", "TaskData", "TaskKind", "load_task", "task_from_bundle"]

ConfigT = TypeVar("ConfigT", ToyTaskConfig, JsonlTaskConfig, DigitsTaskConfig)


@dataclass(frozen=True)
class TaskKind(Generic[ConfigT]):
    """One registered task."""

    config: type[ConfigT]
    """The ``[task]`` model whose ``name`` selects this task."""
    build: Callable[[ConfigT, int, TrainingConfig | None], Task]
    """The task a run config names, given the run's data seed and how to train its models."""
    from_bundle: Callable[[dict[str, Any], Path], Task]
    """The task rebuilt inside a sandbox from a bundle's spec and folder."""


def _toy(config: ToyTaskConfig, data_seed: int, training: TrainingConfig | None) -> Task:
    from evaluator.compute.tasks.toy import ToyParams, ToyTask

    return ToyTask(ToyParams.variant(config.variant, size=config.size, data_seed=data_seed))


def _toy_bundle(spec: dict[str, Any], folder: Path) -> Task:
    from evaluator.compute.tasks.toy import ToyTask

    return ToyTask.from_bundle(spec, folder)


def _jsonl(config: JsonlTaskConfig, data_seed: int, training: TrainingConfig | None) -> Task:
    from evaluator.compute.tasks.jsonl import JsonlTask

    return JsonlTask(config.data_dir, config.weak_model, config.strong_model, training=training)


def _jsonl_bundle(spec: dict[str, Any], folder: Path) -> Task:
    from evaluator.compute.tasks.jsonl import JsonlTask

    return JsonlTask.from_bundle(spec, folder)


def _digits(config: DigitsTaskConfig, data_seed: int, training: TrainingConfig | None) -> Task:
    from evaluator.compute.tasks.digits import DigitsParams, DigitsTask

    return DigitsTask(DigitsParams(weak_pool=config.weak_pool, weak_noise=config.weak_noise, data_seed=data_seed))


def _digits_bundle(spec: dict[str, Any], folder: Path) -> Task:
    from evaluator.compute.tasks.digits import DigitsTask

    return DigitsTask.from_bundle(spec, folder)


TASKS: dict[str, TaskKind[Any]] = {
    "toy": TaskKind(ToyTaskConfig, _toy, _toy_bundle),
    "jsonl": TaskKind(JsonlTaskConfig, _jsonl, _jsonl_bundle),
    "digits": TaskKind(DigitsTaskConfig, _digits, _digits_bundle),
}


def load_task(config: TaskConfig, *, data_seed: int = 0, training: TrainingConfig | None = None) -> Task:
    """The task a run config names (nothing heavy is imported or loaded yet).

    ``data_seed`` seeds the toy data and the digits' split; a run passes its secret one (see
    ``evaluator.daemon.runfiles``).
    ``training`` says how the jsonl task trains its Hugging Face models.
    """
    return TASKS[config.name].build(config, data_seed, training)


def task_from_bundle(name: str, spec: dict[str, Any], folder: Path) -> Task:
    kind = TASKS.get(name)
    if kind is None:
        raise AarError(f"the bundle names an unknown task {name!r}; rebuild it with this aar")
    return kind.from_bundle(spec, folder)
