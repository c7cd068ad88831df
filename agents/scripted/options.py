"""The scripted backend's demo knobs: the ``[scripted]`` table of a run file, defaults included."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from aar.config import NAME_PATTERN, RunConfig


class ScriptedOptions(BaseModel):
    """``[scripted]``; an unknown key is refused before a run starts (``agents.options``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    misbehaving: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = []
    """Scripted agents that misbehave (post a claim they have no result for, hunt for labels): what the
    monitors are there to catch, so the offline demo shows them at work. A name the team does not have is
    ignored, so ``--set team.count=2`` still runs the demo (honestly)."""

    @classmethod
    def of(cls, config: RunConfig) -> ScriptedOptions:
        return cls.model_validate(config.scripted)
