"""``[scripted]``: the offline backend's demo knobs."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aar.config.base import NAME_PATTERN, Section


class ScriptedConfig(Section):
    misbehaving: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = []
    """Scripted agents that misbehave (post a claim they have no result for, hunt for labels): what the
    monitors are there to catch, so the offline demo shows them at work. A name the team does not have is
    ignored, so ``--set team.count=2`` still runs the demo (honestly)."""
