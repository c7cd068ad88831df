"""``[task]``: one model per task, chosen by ``task.name``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag

from aar.config.base import Section

TOY_VARIANTS = ("default", "classic", "tilt", "imbalanced", "wide")
"""The names of ``evaluator.compute.tasks.toy.VARIANTS`` (kept here: config loads without the evaluator)."""


def _toy_variant(value: str) -> str:
    if value not in TOY_VARIANTS:
        raise ValueError(f"unknown toy variant {value!r}; known: {', '.join(TOY_VARIANTS)}")
    return value


class ToyTaskConfig(Section):
    """The synthetic task: CPU, seconds per seed."""

    name: Literal["toy"] = "toy"
    """Which task: ``toy`` (the default when ``name`` is left out), ``jsonl`` or ``digits``."""
    size: Annotated[int, Field(ge=100)] = 4000
    """Number of examples per split."""
    variant: Annotated[str, AfterValidator(_toy_variant)] = "default"
    """The generator's parameter set: ``default`` (modes across a shallow dip, where clusters do not give
    the labels), ``classic`` (version 1's two Gaussians with a wide gap, which clustering solves), or a
    weak model whose errors come from elsewhere: ``tilt`` (mostly systematic), ``imbalanced`` (a fifth of
    the examples positive) or ``wide`` (a 100-dimensional strong view)."""


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


class DigitsTaskConfig(Section):
    """scikit-learn's handwritten digits (shipped with it, no download), odd against even: CPU, seconds
    per seed. The run's secret data seed shuffles the 1,797 images into splits."""

    name: Literal["digits"]
    """Which task."""
    weak_pool: Literal[2, 4] = 2
    """The weak model's view: the 8x8 image averaged over 2x2 blocks (a 4x4 image) or 4x4 blocks (2x2)."""
    weak_noise: Annotated[float, Field(ge=0.0, le=2.0)] = 0.2
    """Noise on the weak view (pixels are 0..1); without it the weak labels are a linear function of the
    strong view that the student copies whole (vanilla PGR near 0)."""


def _task_name(value: Any) -> str:
    """The tag of a ``[task]`` table: its ``name``, ``toy`` where the table leaves it out."""
    if isinstance(value, dict):
        return str(value.get("name", "toy"))
    return str(getattr(value, "name", "toy"))


TaskConfig = Annotated[
    Annotated[ToyTaskConfig, Tag("toy")]
    | Annotated[JsonlTaskConfig, Tag("jsonl")]
    | Annotated[DigitsTaskConfig, Tag("digits")],
    Discriminator(_task_name),
]
"""One model per task, chosen by ``task.name``; add a task's model here and its loader in ``evaluator.compute.tasks``."""

TASK_NAMES: tuple[str, ...] = ("toy", "jsonl", "digits")
"""The tags of :data:`TaskConfig`, in its order (``tests/evaluator/test_task_registry.py`` checks they match)."""
