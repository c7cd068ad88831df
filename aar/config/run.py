"""``[run]``: the run's name, where its folder goes, and its run-wide limits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from aar.config.base import NAME_PATTERN, Section


class RunSection(Section):
    name: Annotated[str, Field(pattern=NAME_PATTERN)] = "run"
    """Short name; the run id is ``<name>-<timestamp>``."""
    runs_dir: Path = Path("runs")
    """Where ``runs/<id>/`` folders are created."""
    dollar_cap: Annotated[float, Field(ge=0)] = 0.0
    """Run-wide spending cap in USD across all agents; 0 means no cap."""
    max_steps: Annotated[int, Field(ge=0)] = 0
    """Steps per agent before it finishes on its own; 0 means no limit."""
    disk_reserve_mb: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 200.0
    """Free space (MB) the run's disk must keep: under it the team pauses until there is half as much again;
    0 turns the look at free space off (a write that fails for want of space still pauses the team)."""
    snapshot_every_min: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 10.0
    """Minutes between two snapshots of an agent's workspace (taken after a step; one is also taken at its
    start and after each step that submits); a branch starts from the nearest one. 0: only those."""
    snapshot_budget_mb: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 2048.0
    """Disk the workspace snapshots may use (content-addressed: an unchanged file is stored once); beyond it the
    oldest snapshots that no submission or branch refers to are removed."""


class TuiSection(Section):
    """``[tui]``: what the control room does on its own."""

    digest_after_min: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 30.0
    """On attach, after an absence longer than this (minutes since the last detach), the digest of what
    happened meanwhile opens first (``aar digest``); 0 never opens it."""
