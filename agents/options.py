"""Feature options a run file leaves to the feature: each ``[[monitors]]`` entry's ``options`` table and
``[scripted]``. The config (``aar.config``) holds them as free-form tables, since the kernel does not import
the agents; their models, defaults included, live with the rule or backend that reads them, found through
the registry that resolves the name (``agents.monitors.runner.RULES``). The composition root checks them
before a run exists, so a typo is one line naming the key, not a crash in the daemon."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from aar.config import RunConfig, format_validation_error
from agents.monitors.runner import rule_options
from agents.scripted.options import ScriptedOptions


def option_problems(config: RunConfig) -> list[str]:
    """One line per bad key or value in the run's feature options (empty: all good)."""
    problems = [
        line
        for i, monitor in enumerate(config.monitors)
        for line in _problems(rule_options(monitor.rule), monitor.options, f"monitors.{i}.options")
    ]
    return problems + _problems(ScriptedOptions, config.scripted, "scripted")


def _problems(model: type[BaseModel], options: dict[str, Any], where: str) -> list[str]:
    try:
        model.model_validate(options)
    except ValidationError as exc:
        return format_validation_error(exc, model, where)
    return []
