"""``[task]``: one model per task, chosen by ``task.name``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag

from aar.config.base import Section

TOY_VARIANTS = ("default", "classic")
"""The names of ``evaluator.compute.tasks.toy.VARIANTS`` (kept here: config loads without the evaluator)."""


def _toy_variant(value: str) -> str:
    if value not in TOY_VARIANTS:
        raise ValueError(f"unknown toy variant {value!r}; known: {', '.join(TOY_VARIANTS)}")
    return value


class ToyTaskConfig(Section):
    """The synthetic task: CPU, seconds per seed."""

    name: Literal["toy"] = "toy"
    """Which task: ``toy`` (the default when ``name`` is left out) or ``jsonl``."""
    size: Annotated[int, Field(ge=100)] = 4000
    """Number of examples per split."""
    variant: Annotated[str, AfterValidator(_toy_variant)] = "default"
    """The generator's parameter set: ``default`` (modes across a shallow dip, where clusters do not give
    the labels) or ``classic`` (version 1's two Gaussians with a wide gap, which clustering solves)."""


def _existing(value: Path) -> Path:
    if not value.exists():
        raise ValueError(f"path does not exist: {value}")
    return value


ExistingPath = Annotated[Path, AfterValidator(_existing)]


class JsonlTaskConfig(Section):
    """The AAR study's format: jsonl files and local Hugging Face checkpoints (extra ``hf``)."""

    name: Literal["jsonl"]
    """Which task."""
    data_dir: ExistingPath
    """Folder with train_label.jsonl, train_unlabel.jsonl, test.jsonl."""
    weak_model: ExistingPath
    """Local Hugging Face checkpoint of the weak model."""
    strong_model: ExistingPath
    """Local Hugging Face checkpoint of the strong model."""


def _task_name(value: Any) -> str:
    """The tag of a ``[task]`` table: its ``name``, ``toy`` where the table leaves it out."""
    if isinstance(value, dict):
        return str(value.get("name", "toy"))
    return str(getattr(value, "name", "toy"))


TaskConfig = Annotated[
    Annotated[ToyTaskConfig, Tag("toy")] | Annotated[JsonlTaskConfig, Tag("jsonl")],
    Discriminator(_task_name),
]
"""One model per task, chosen by ``task.name``; add a task's model here and its loader in ``evaluator.compute.tasks``."""
