"""Run configuration: the pydantic models behind a run file in TOML.

A run file names the team (how many agents, which backend and model, their
budgets), the sandbox, the task and the evaluator. Unknown keys are errors,
not silently ignored, and every problem is reported on its own line with the
dotted key and what is allowed, so a typo is found before a run starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aar.devices import DEVICE_PATTERN, DevicePlan, plan_devices

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"

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


class _Section(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunSection(_Section):
    name: Annotated[str, Field(pattern=NAME_PATTERN)] = "run"
    """Short name; the run id is ``<name>-<timestamp>``."""
    runs_dir: Path = Path("runs")
    """Where ``runs/<id>/`` folders are created."""
    dollar_cap: Annotated[float, Field(ge=0)] = 0.0
    """Run-wide spending cap in USD across all agents; 0 means no cap."""
    max_steps: Annotated[int, Field(ge=0)] = 0
    """Steps per agent before it finishes on its own; 0 means no limit."""


class BudgetConfig(_Section):
    tokens: Annotated[int, Field(ge=0)] = 0
    """Input + output tokens an agent may use; 0 means no limit."""
    dollars: Annotated[float, Field(ge=0)] = 0.0
    """USD an agent may spend; 0 means no limit."""
    wall_clock_s: Annotated[float, Field(ge=0)] = 0.0
    """Seconds an agent may run; 0 means no limit."""


class ModelPrice(_Section):
    """List prices in USD per million tokens, for a model the built-in table does not know."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]
    cache_write: Annotated[float, Field(ge=0)]
    cache_read: Annotated[float, Field(ge=0)]


class AnthropicConfig(_Section):
    base_url: str | None = None
    """API base URL; None uses the SDK default (or ANTHROPIC_BASE_URL)."""
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "ANTHROPIC_API_KEY"
    """Name of the environment variable that holds the key (the key itself never goes in a file)."""
    max_tokens: Annotated[int, Field(ge=1, le=128_000)] = 8192
    """Output tokens per model call."""
    context_window: Annotated[int, Field(ge=1000)] = 200_000
    """Tokens the model accepts; the transcript is compacted before it fills."""
    compact_at: Annotated[float, Field(gt=0, lt=1)] = 0.8
    """Fraction of the context window at which the transcript is compacted."""
    max_retries: Annotated[int, Field(ge=0, le=20)] = 8
    """Retries on 429 / 529 / dropped streams, with exponential backoff."""
    timeout_s: Annotated[float, Field(gt=0)] = 600.0
    """Timeout of one model call."""
    prices: dict[str, ModelPrice] = {}
    """Extra or overriding prices by model id, e.g. ``[anthropic.prices.claude-x]``; budgets rely on them."""


class AgentConfig(_Section):
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


class TeamConfig(_Section):
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


class SandboxConfig(_Section):
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


class ToyTaskConfig(_Section):
    """The synthetic task: CPU, seconds per seed."""

    name: Literal["toy"] = "toy"
    """Which task: ``toy`` (the default when ``name`` is left out) or ``jsonl``."""
    size: Annotated[int, Field(ge=100)] = 4000
    """Number of examples per split."""


def _existing(value: Path) -> Path:
    if not value.exists():
        raise ValueError(f"path does not exist: {value}")
    return value


ExistingPath = Annotated[Path, AfterValidator(_existing)]


class JsonlTaskConfig(_Section):
    """The AAR study's format: jsonl files and local Hugging Face checkpoints (extra ``hf``)."""

    name: Literal["jsonl"]
    """Which task."""
    data_dir: ExistingPath
    """Folder with train_label.jsonl, train_unlabel.jsonl, test.jsonl."""
    weak_model: ExistingPath
    """Local Hugging Face checkpoint of the weak model."""
    strong_model: ExistingPath
    """Local Hugging Face checkpoint of the strong model."""


def _task_name(value: Any) -> str:
    """The tag of a ``[task]`` table: its ``name``, ``toy`` where the table leaves it out."""
    if isinstance(value, dict):
        return str(value.get("name", "toy"))
    return str(getattr(value, "name", "toy"))


TaskConfig = Annotated[
    Annotated[ToyTaskConfig, Tag("toy")] | Annotated[JsonlTaskConfig, Tag("jsonl")],
    Discriminator(_task_name),
]
"""One model per task, chosen by ``task.name``; add a task's model here and its loader in ``evaluator.compute.tasks``."""


class EvaluatorConfig(_Section):
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


class MonitorConfig(_Section):
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


class ScriptedConfig(_Section):
    misbehaving: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = []
    """Scripted agents that misbehave (post a claim they have no result for, hunt for labels): what the
    monitors are there to catch, so the offline demo shows them at work. A name the team does not have is
    ignored, so ``--set team.count=2`` still runs the demo (honestly)."""


Device = Annotated[str, Field(pattern=DEVICE_PATTERN)]


class DevicesConfig(_Section):
    """The device pool, in one place: the evaluator's workers and the agents' sandboxes."""

    evaluator: list[Device] = []
    """One evaluator worker per device (``cuda:0``, ``cpu:1``); empty uses ``evaluator.device``."""
    sandboxes: list[Device] = []
    """Devices handed to the agents' sandboxes round-robin in team order; empty keeps ``sandbox.gpus``."""
    per_agent: Annotated[int, Field(ge=1, le=64)] = 1
    """Devices each agent gets from ``sandboxes``."""
    agents: dict[str, list[Device]] = {}
    """An explicit assignment by agent name (``alice = ["cuda:2"]``); the rest go round-robin."""
    share: bool = False
    """Allow a device to serve two agents, or an agent and the evaluator."""


class ModelTrainingConfig(_Section):
    """Recipe options of one model (weak or strong); unset keys take defaults chosen by the model's size."""

    grad_accum: Annotated[int, Field(ge=1, le=1024)] | None = None
    """Micro-batches per optimizer step (the batch is split, the effective batch is the same); default 1."""
    grad_checkpointing: bool | None = None
    """Recompute activations in the backward pass; default on from 2.5B parameters."""
    lora: bool | None = None
    """Train LoRA adapters (and the head) instead of every weight; default on from 6B parameters."""
    lora_rank: Annotated[int, Field(ge=1, le=1024)] = 16
    """LoRA rank r."""
    lora_alpha: Annotated[int, Field(ge=1)] = 32
    """LoRA scaling alpha (the update is scaled by alpha / r)."""
    lora_targets: list[str] = ["all-linear"]
    """Module names LoRA adapts, e.g. ``["q_proj", "v_proj"]``; ``["all-linear"]`` adapts every linear layer."""
    compile: bool | None = None
    """``torch.compile`` the model (dynamic shapes); default off."""


class TrainingConfig(_Section):
    """How the jsonl task's Hugging Face models are trained."""

    max_length: Annotated[int, Field(ge=8, le=131_072)] = 256
    """Tokens per row; longer rows are truncated (and counted in the job's log)."""
    max_tokens_per_batch: Annotated[int, Field(ge=0)] = 0
    """Cut batches by padded tokens (rows x longest row) instead of rows; 0 uses the recipe's batch size."""
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    """``auto``: bf16 autocast on CUDA (fp32 weights and loss), fp32 on the CPU."""
    attention: Literal["auto", "sdpa", "flash_attention_2", "eager"] = "auto"
    """``auto``: flash-attention 2 when installed on CUDA, else SDPA."""
    peak_tflops: Annotated[float, Field(ge=0)] = 0.0
    """The device's dense bf16 peak for the MFU estimate; 0 looks it up (A100, H100, H200, L40S)."""
    weak: ModelTrainingConfig = ModelTrainingConfig()
    strong: ModelTrainingConfig = ModelTrainingConfig()


class RunConfig(_Section):
    run: RunSection = RunSection()
    team: TeamConfig = TeamConfig()
    agents: list[AgentConfig] = []
    """Explicit agents; when empty, ``team.count`` agents are generated."""
    anthropic: AnthropicConfig = AnthropicConfig()
    sandbox: SandboxConfig = SandboxConfig()
    task: TaskConfig = ToyTaskConfig()
    evaluator: EvaluatorConfig = EvaluatorConfig()
    monitors: list[MonitorConfig] = list(DEFAULT_MONITORS)
    """Monitors that run beside the team; the built-in set unless listed."""
    scripted: ScriptedConfig = ScriptedConfig()
    devices: DevicesConfig = DevicesConfig()

    @model_validator(mode="after")
    def _devices_fit(self) -> RunConfig:
        self.device_plan()  # raises ValueError naming the conflicting key
        return self

    def device_plan(self) -> DevicePlan:
        """Which device each evaluator worker and each agent's sandbox uses."""
        return plan_devices(self)

    training: TrainingConfig = TrainingConfig()

    @field_validator("agents")
    @classmethod
    def _unique_names(cls, agents: list[AgentConfig]) -> list[AgentConfig]:
        names = [a.name for a in agents]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"agent names must be unique, repeated: {', '.join(dupes)}")
        return agents

    def resolved_agents(self) -> list[ResolvedAgent]:
        """Every agent of the team with team defaults filled in."""
        team = self.team
        listed = self.agents or [
            AgentConfig(name=f"agent-{i + 1}", direction=DEFAULT_DIRECTIONS[i % len(DEFAULT_DIRECTIONS)])
            for i in range(team.count)
        ]
        return [
            ResolvedAgent(
                name=a.name,
                direction=a.direction or DEFAULT_DIRECTIONS[i % len(DEFAULT_DIRECTIONS)],
                backend=a.backend or team.backend,
                model=a.model or team.model,
                budget=a.budget or team.budget,
            )
            for i, a in enumerate(listed)
        ]


class ResolvedAgent(BaseModel):
    """An agent with every default applied: what the orchestrator runs."""

    model_config = ConfigDict(frozen=True)

    name: str
    direction: str
    backend: Literal["scripted", "anthropic"]
    model: str
    budget: BudgetConfig
