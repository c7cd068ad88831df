"""``[transfer]``: other tasks the best methods are re-run on, so a result is checked beyond its home task.

    [transfer]
    top_k = 3          # `aar transfer RUN` (no --submission) takes the top k verified methods
    auto = false       # true: each method that enters the top k is transferred when it is scored

    [[transfer.targets]]
    name = "tilted"
    seeds = 5
    task = { name = "toy", variant = "tilt" }

A target's task is a full ``[task]`` table: any task the registry knows, with its own data and models.
Its bundle, held-out labels and cache live under ``evaluator/targets/<name>/``, out of every sandbox's
reach like the home task's, and its ``final`` split is never scored.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from aar.config.base import NAME_PATTERN, Section
from aar.config.task import TaskConfig


class TransferTarget(Section):
    """One task the best methods are re-run on."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    """Short name shown beside the home task's PGR (``tilted``, ``digits``)."""
    task: TaskConfig
    """The task, as a ``[task]`` table."""
    seeds: Annotated[int, Field(ge=1, le=64)] = 5
    """Seeds the method, its baselines and its canary run over on this target."""


class TransferConfig(Section):
    top_k: Annotated[int, Field(ge=1, le=100)] = 3
    """How many verified methods (by feedback PGR, ties by the CI's lower end) ``aar transfer`` takes."""
    auto: bool = False
    """Transfer each method that enters the top ``top_k`` as soon as it is scored."""
    targets: list[TransferTarget] = []

    @field_validator("targets")
    @classmethod
    def _unique_names(cls, targets: list[TransferTarget]) -> list[TransferTarget]:
        names = [t.name for t in targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"transfer target names must be unique, repeated: {', '.join(dupes)}")
        return targets

    def target(self, name: str) -> TransferTarget | None:
        return next((t for t in self.targets if t.name == name), None)
