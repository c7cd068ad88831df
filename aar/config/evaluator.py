"""``[evaluator]``: where jobs run (this machine's workers or a Ray cluster), the scoring worker's device, seeds and the agents' submission budgets."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aar.config.base import Section


class EvaluatorConfig(Section):
    backend: Literal["local", "ray"] = "local"
    """``local``: worker processes on this machine (``[devices] evaluator``); ``ray``: each job a task on the Ray
    cluster of ``[ray]`` (install the ``ray`` extra). The daemon stays the store's one writer either way."""
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?)$")] = "auto"
    """Torch device of the worker: ``auto`` uses CUDA when available."""
    seeds: Annotated[int, Field(ge=1, le=64)] = 3
    """Seeds every baseline and every method submission is run over."""
    query_budget: Annotated[int, Field(ge=0)] = 20
    """Prediction submissions each agent may score on the feedback split."""
    rate_limit_per_min: Annotated[float, Field(gt=0)] = 6.0
    """Submissions per agent per minute."""
    method_budget: Annotated[int, Field(ge=0)] = 20
    """Method submissions each agent may have verified; past it a method is rejected ``over_budget``."""
    agent_pgr_precision: Annotated[float, Field(gt=0, le=1)] = 0.01
    """Agents see feedback PGR (and its CI) rounded to this step; the supervisor sees full precision."""
    job_timeout_s: Annotated[float, Field(gt=0)] = 1800.0
    """A job running longer is killed and retried once."""
