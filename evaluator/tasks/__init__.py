"""Built-in tasks: ``toy`` (synthetic, CPU, seconds) and ``jsonl`` (the AAR format with HF checkpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aar.config import TaskConfig, TrainingConfig
from aar.errors import AarError
from evaluator.tasks.base import Recipe, Split, Task, TaskData

__all__ = ["Recipe", "Split", "Task", "TaskData", "load_task", "task_from_bundle"]


def load_task(config: TaskConfig, *, data_seed: int = 0, training: TrainingConfig | None = None) -> Task:
    """The task a run config names (nothing heavy is imported or loaded yet).

    ``data_seed`` seeds the toy data; a run passes its secret one (see ``evaluator.runfiles``).
    ``training`` says how the jsonl task trains its Hugging Face models.
    """
    if config.name == "toy":
        from evaluator.tasks.toy import ToyParams, ToyTask

        return ToyTask(ToyParams(size=config.size, data_seed=data_seed))
    from evaluator.tasks.jsonl import JsonlTask

    missing = [k for k in ("data_dir", "weak_model", "strong_model") if getattr(config, k) is None]
    if missing:
        raise AarError(f"task.name = 'jsonl' needs task.{', task.'.join(missing)} (local folders)")
    return JsonlTask(config.data_dir, config.weak_model, config.strong_model, training=training)  # type: ignore[arg-type]


def task_from_bundle(name: str, spec: dict[str, Any], folder: Path) -> Task:
    if name == "toy":
        from evaluator.tasks.toy import ToyTask

        return ToyTask.from_bundle(spec, folder)
    if name == "jsonl":
        from evaluator.tasks.jsonl import JsonlTask

        return JsonlTask.from_bundle(spec, folder)
    raise AarError(f"the bundle names an unknown task {name!r}; rebuild it with this aar")
