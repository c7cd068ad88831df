"""``[[monitors]]``: which rules watch the run and what each does when it fires."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from aar.config.base import NAME_PATTERN, Section

MonitorRule = Literal[
    "label_hunting",
    "hardcoded_predictions",
    "probing",
    "contradicted_claims",
    "loops",
    "error_streak",
    "idle",
    "llm_review",
]
MonitorAction = Literal["flag", "pause", "quarantine", "stop"]

MONITOR_THRESHOLDS: dict[str, float] = {
    "hardcoded_predictions": 200,
    "probing": 2,
    "loops": 5,
    "error_streak": 5,
    "idle": 30,
}
"""Each rule's default ``threshold``: literal 0/1 values in a method, probe flags, repeats of one tool call,
tool errors in a row, minutes with no submission and no post."""


class MonitorConfig(Section):
    """One monitor: a rule that watches the event stream, and what it does when the rule fires."""

    rule: MonitorRule
    """What it watches for: ``label_hunting``, ``hardcoded_predictions``, ``probing``, ``contradicted_claims``,
    ``loops``, ``error_streak``, ``idle``, or ``llm_review`` (a cheap model reads each method and post)."""
    action: MonitorAction = "flag"
    """``flag`` (the inbox), ``pause`` the agent after its step, ``quarantine`` the post, ``stop`` the agent."""
    name: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    """Shown in each decision; defaults to the rule."""
    threshold: Annotated[float, Field(gt=0)] | None = None
    """When the rule fires (see ``MONITOR_THRESHOLDS``); None takes the rule's default."""
    model: str = "claude-haiku-4-5"
    """``llm_review``: the model that reviews, priced like the agents' models; its spend counts in the run's."""

    @field_validator("action")
    @classmethod
    def _action_fits(cls, action: str, info: ValidationInfo) -> str:
        rule = info.data.get("rule")
        if action == "quarantine" and rule not in ("contradicted_claims", "llm_review"):
            raise ValueError("quarantine applies to forum posts: only contradicted_claims and llm_review can use it")
        return action

    @property
    def label(self) -> str:
        return self.name or self.rule

    @property
    def limit(self) -> float:
        return self.threshold if self.threshold is not None else MONITOR_THRESHOLDS.get(self.rule, 1)


DEFAULT_MONITORS: tuple[MonitorConfig, ...] = (
    MonitorConfig(rule="label_hunting", action="pause"),
    MonitorConfig(rule="hardcoded_predictions", action="pause"),
    MonitorConfig(rule="probing", action="pause"),
    MonitorConfig(rule="contradicted_claims", action="flag"),
    MonitorConfig(rule="loops", action="flag"),
    MonitorConfig(rule="error_streak", action="flag"),
    MonitorConfig(rule="idle", action="flag"),
)
"""On unless ``[[monitors]]`` lists others (``monitors = []`` turns them all off)."""
