"""``[[monitors]]``: which rules watch the run, what each does when it fires, and its options (checked by the rule)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

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
"""A new rule adds its name here and its class to ``agents.monitors.runner.RULES``, options model included."""
MonitorAction = Literal["flag", "pause", "quarantine", "stop"]

LEGACY_OPTIONS = frozenset({"threshold", "model"})
"""Keys a ``[[monitors]]`` entry held before they moved into its ``options`` table."""


class MonitorConfig(Section):
    """One monitor: a rule that watches the event stream, and what it does when the rule fires."""

    rule: MonitorRule
    """What it watches for: ``label_hunting``, ``hardcoded_predictions``, ``probing``, ``contradicted_claims``,
    ``loops``, ``error_streak``, ``idle``, or ``llm_review`` (a cheap model reads each method and post)."""
    action: MonitorAction = "flag"
    """``flag`` (the inbox), ``pause`` the agent after its step, ``quarantine`` the post, ``stop`` the agent."""
    name: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    """Shown in each decision; defaults to the rule."""
    options: dict[str, Any] = {}
    """The rule's own settings (``[monitors.options]``: ``threshold``, ``llm_review``'s ``model``). Their
    defaults and checks live with the rule (``agents.monitors``), which refuses an unknown key before a
    run starts."""

    @model_validator(mode="before")
    @classmethod
    def _fold_legacy(cls, data: Any) -> Any:
        """Run files written before the options table (``threshold`` and ``model`` beside ``rule``) still load:
        a stored run resumes. ``model`` meant something only to ``llm_review``; elsewhere it was the unused default."""
        if not isinstance(data, dict) or not LEGACY_OPTIONS & data.keys():
            return data
        data = dict(data)
        options = dict(data.get("options") or {})
        for key in sorted(LEGACY_OPTIONS & data.keys()):
            value = data.pop(key)
            if key == "model" and data.get("rule") != "llm_review":
                continue
            options.setdefault(key, value)
        data["options"] = options
        return data

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
