"""Run configuration: models (``models``), ``--set`` overrides (``overrides``),
reading (``loading``) and writing (``serialise``) a run file in TOML."""

from aar.config.loading import format_validation_error, load_config
from aar.config.models import (
    DEFAULT_DIRECTIONS,
    DEFAULT_MONITORS,
    NAME_PATTERN,
    AgentConfig,
    AnthropicConfig,
    BudgetConfig,
    EvaluatorConfig,
    JsonlTaskConfig,
    ModelPrice,
    MonitorAction,
    MonitorConfig,
    ResolvedAgent,
    RunConfig,
    RunSection,
    SandboxConfig,
    ScriptedConfig,
    TaskConfig,
    TeamConfig,
    ToyTaskConfig,
)
from aar.config.overrides import apply_override, parse_override
from aar.config.serialise import dump_config

__all__ = [
    "DEFAULT_DIRECTIONS",
    "DEFAULT_MONITORS",
    "NAME_PATTERN",
    "AgentConfig",
    "AnthropicConfig",
    "BudgetConfig",
    "EvaluatorConfig",
    "JsonlTaskConfig",
    "ModelPrice",
    "MonitorAction",
    "MonitorConfig",
    "ResolvedAgent",
    "RunConfig",
    "RunSection",
    "SandboxConfig",
    "ScriptedConfig",
    "TaskConfig",
    "TeamConfig",
    "ToyTaskConfig",
    "apply_override",
    "dump_config",
    "format_validation_error",
    "load_config",
    "parse_override",
]
