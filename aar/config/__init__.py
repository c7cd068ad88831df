"""Run configuration: one model per section (``run``, ``agents``, ``anthropic``, ``sandbox``, ``task``,
``evaluator``, ``ray``, ``monitors``, ``devices``, ``training``, ``transfer``, ``report``) under the root (``models``),
``--set`` overrides (``overrides``), reading (``loading``) and writing (``serialise``) a run file in TOML."""

from aar.config.agents import DEFAULT_DIRECTIONS, AgentConfig, BudgetConfig, ResolvedAgent, TeamConfig
from aar.config.anthropic import AnthropicConfig, ModelPrice
from aar.config.base import NAME_PATTERN
from aar.config.devices import DevicesConfig
from aar.config.evaluator import EvaluatorConfig
from aar.config.loading import format_validation_error, load_config
from aar.config.models import RunConfig
from aar.config.monitors import DEFAULT_MONITORS, MonitorAction, MonitorConfig, MonitorRule
from aar.config.overrides import apply_override, parse_override
from aar.config.ray import RayConfig
from aar.config.report import ReportSection
from aar.config.run import RunSection
from aar.config.sandbox import HostConfig, SandboxConfig
from aar.config.serialise import dump_config
from aar.config.task import JsonlTaskConfig, TaskConfig, ToyTaskConfig
from aar.config.training import ModelTrainingConfig, TrainingConfig
from aar.config.transfer import TransferConfig, TransferTarget

__all__ = [
    "DEFAULT_DIRECTIONS",
    "DEFAULT_MONITORS",
    "NAME_PATTERN",
    "AgentConfig",
    "AnthropicConfig",
    "BudgetConfig",
    "DevicesConfig",
    "EvaluatorConfig",
    "HostConfig",
    "JsonlTaskConfig",
    "ModelPrice",
    "ModelTrainingConfig",
    "MonitorAction",
    "MonitorConfig",
    "MonitorRule",
    "RayConfig",
    "ReportSection",
    "ResolvedAgent",
    "RunConfig",
    "RunSection",
    "SandboxConfig",
    "TaskConfig",
    "TeamConfig",
    "ToyTaskConfig",
    "TrainingConfig",
    "TransferConfig",
    "TransferTarget",
    "apply_override",
    "dump_config",
    "format_validation_error",
    "load_config",
    "parse_override",
]
