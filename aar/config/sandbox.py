"""``[sandbox]``: where agents run their commands, and what limits them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aar.config.base import Section


class SandboxConfig(Section):
    backend: Literal["auto", "docker", "local"] = "auto"
    """``docker`` where an engine answers under ``auto``, else ``local``."""
    image: str = "aar-sandbox:latest"
    """Docker image agents run in."""
    network: bool = False
    """Give sandboxes network access (off by default)."""
    memory: Annotated[str, Field(pattern=r"^\d+(\.\d+)?[kmgKMG]?$")] = "4g"
    """Memory limit, e.g. ``512m`` or ``4g``."""
    cpus: Annotated[float, Field(gt=0, le=512)] = 1.0
    """CPU limit in cores."""
    pids: Annotated[int, Field(ge=16, le=1_000_000)] = 512
    """Process limit (a fork bomb stops here)."""
    gpus: Annotated[str, Field(pattern=r"^(all|none|\d+(,\d+)*)$")] = "none"
    """GPUs to pass through: ``all``, ``none`` or a list like ``0,1``."""
    exec_timeout_s: Annotated[float, Field(gt=0)] = 600.0
    """Default timeout of one sandbox command."""
    isolation: Literal["required", "none-allowed"] = "required"
    """``required``: a run refuses to start when its sandboxes (the agents' and the evaluator's
    verification sandbox) would have no isolation (no Docker, no working bubblewrap).
    ``none-allowed`` waives that: the run is marked UNISOLATED and every score carries ``unisolated``."""
