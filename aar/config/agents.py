"""``[team]`` and ``[[agents]]``: who runs, on which backend and model, within which budgets."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from aar.config.base import NAME_PATTERN, Section

DEFAULT_DIRECTIONS: tuple[str, ...] = (
    "Tune vanilla transfer: learning rate, epochs and early stopping of the strong student.",
    "Auxiliary confidence loss: vary the final weight and the warmup.",
    "Confident-label filtering: find the best confidence threshold on the weak labels.",
    "Bootstrapping / self-training: rounds and the confidence of pseudo-labels.",
    "Combine filtering with the confidence loss.",
    "Regularise the student (weight decay, shorter training) so it cannot memorise weak errors.",
    "Ensembles of students trained on different subsets of weak labels.",
    "Reweight weak labels by the weak model's calibrated confidence.",
    "Anything the forum has not tried yet; read it first.",
)


class BudgetConfig(Section):
    tokens: Annotated[int, Field(ge=0)] = 0
    """Input + output tokens an agent may use; 0 means no limit."""
    dollars: Annotated[float, Field(ge=0)] = 0.0
    """USD an agent may spend; 0 means no limit."""
    wall_clock_s: Annotated[float, Field(ge=0)] = 0.0
    """Seconds an agent may run; 0 means no limit."""


class AgentConfig(Section):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    """Unique agent name (lowercase letters, digits, - and _)."""
    direction: str = ""
    """The research direction the agent starts from."""
    backend: Literal["scripted", "anthropic"] | None = None
    """Overrides team.backend."""
    model: str | None = None
    """Overrides team.model."""
    budget: BudgetConfig | None = None
    """Overrides team.budget."""


class TeamConfig(Section):
    count: Annotated[int, Field(ge=1, le=64)] = 4
    """Number of agents when ``[[agents]]`` does not list them."""
    backend: Literal["scripted", "anthropic"] = "scripted"
    """Model backend: ``scripted`` (offline researcher policy) or ``anthropic``."""
    model: str = "scripted-researcher"
    """Model id sent to the backend."""
    pace_s: Annotated[float, Field(ge=0)] = 0.0
    """Pause between steps of scripted agents, so a demo is watchable."""
    approval: bool = False
    """Start every agent in approval mode (tool calls wait for approve / deny)."""
    budget: BudgetConfig = BudgetConfig()


class ResolvedAgent(BaseModel):
    """An agent with every default applied: what the orchestrator runs."""

    model_config = ConfigDict(frozen=True)

    name: str
    direction: str
    backend: Literal["scripted", "anthropic"]
    model: str
    budget: BudgetConfig
