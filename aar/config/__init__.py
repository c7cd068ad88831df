"""Run configuration: models (``models``), ``--set`` overrides (``overrides``),
reading (``loading``) and writing (``serialise``) a run file in TOML."""

from aar.config.loading import format_validation_error, load_config
from aar.config.models import (
    DEFAULT_DIRECTIONS,
    NAME_PATTERN,
    AgentConfig,
    AnthropicConfig,
    BudgetConfig,
    EvaluatorConfig,
    ModelPrice,
    ModelTrainingConfig,
    ResolvedAgent,
    RunConfig,
    RunSection,
    SandboxConfig,
    TaskConfig,
    TeamConfig,
    TrainingConfig,
)
from aar.config.overrides import apply_override, parse_override
from aar.config.serialise import dump_config

__all__ = [
    "DEFAULT_DIRECTIONS",
    "NAME_PATTERN",
    "AgentConfig",
    "AnthropicConfig",
    "BudgetConfig",
    "EvaluatorConfig",
    "ModelPrice",
    "ModelTrainingConfig",
    "ResolvedAgent",
    "RunConfig",
    "RunSection",
    "SandboxConfig",
    "TaskConfig",
    "TeamConfig",
    "TrainingConfig",
    "apply_override",
    "dump_config",
    "format_validation_error",
    "load_config",
    "parse_override",
]
