"""Run configuration: the root model of a run file in TOML, made of one model per section.

A run file names the team (how many agents, which backend and model, their
budgets), the sandbox, the task and the evaluator. Unknown keys are errors,
not silently ignored, and every problem is reported on its own line with the
dotted key and what is allowed, so a typo is found before a run starts. Each
section's model lives in its own module here; options that belong to a feature
(a monitor rule's threshold, the scripted backend's demo knobs) are free-form
tables here, checked by the feature that reads them (``agents.options``).
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from aar.config.agents import DEFAULT_DIRECTIONS, AgentConfig, ResolvedAgent, TeamConfig
from aar.config.anthropic import AnthropicConfig
from aar.config.base import Section
from aar.config.devices import DevicesConfig
from aar.config.evaluator import EvaluatorConfig
from aar.config.monitors import DEFAULT_MONITORS, MonitorConfig
from aar.config.notify import NotifyConfig
from aar.config.ray import RayConfig
from aar.config.report import ReportSection
from aar.config.run import RunSection, TuiSection
from aar.config.sandbox import SandboxConfig
from aar.config.task import TaskConfig, ToyTaskConfig
from aar.config.training import TrainingConfig
from aar.config.transfer import TransferConfig
from aar.devices import DevicePlan, check_hosts_beside_the_evaluator, plan_devices
from aar.placement import Placement


class RunConfig(Section):
    run: RunSection = RunSection()
    team: TeamConfig = TeamConfig()
    agents: list[AgentConfig] = []
    """Explicit agents; when empty, ``team.count`` agents are generated."""
    anthropic: AnthropicConfig = AnthropicConfig()
    sandbox: SandboxConfig = SandboxConfig()
    task: TaskConfig = ToyTaskConfig()
    evaluator: EvaluatorConfig = EvaluatorConfig()
    ray: RayConfig = RayConfig()
    """The Ray cluster evaluator jobs run on when ``evaluator.backend = "ray"``."""
    monitors: list[MonitorConfig] = list(DEFAULT_MONITORS)
    """Monitors that run beside the team; the built-in set unless listed."""
    scripted: dict[str, Any] = {}
    """The scripted backend's demo knobs (``misbehaving``); their defaults and checks live with the backend
    (``agents.scripted.options``), which refuses an unknown key before a run starts."""
    devices: DevicesConfig = DevicesConfig()
    tui: TuiSection = TuiSection()
    transfer: TransferConfig = TransferConfig()
    """Other tasks the best methods are re-run on (``aar transfer``)."""
    notify: list[NotifyConfig] = []
    """Where inbox items reach the supervisor off the box (``aar.notify``)."""
    report: ReportSection = ReportSection()
    """What the progress chart draws beside the run's numbers (``aar.progress``)."""

    @model_validator(mode="after")
    def _no_network_beside_a_cluster(self) -> RunConfig:
        if self.evaluator.backend == "ray" and self.sandbox.network:
            raise ValueError(
                'sandbox.network = true with evaluator.backend = "ray": a sandbox could reach the Ray cluster, '
                "which runs what it is sent outside any sandbox; turn sandbox.network off"
            )
        return self

    @model_validator(mode="after")
    def _hosts_fit(self) -> RunConfig:
        if self.sandbox.hosts and (self.devices.sandboxes or self.devices.agents):
            raise ValueError(
                "devices.sandboxes and devices.agents name this machine's GPUs; with sandbox.hosts, placement"
                " picks each agent's: set sandbox.gpus_each instead"
            )
        self.host_plan()  # raises ValueError (one line) when the hosts have no room for the team
        check_hosts_beside_the_evaluator(self)
        return self

    def host_plan(self) -> dict[str, Placement]:
        """Which of ``sandbox.hosts`` runs each agent's sandbox, and on which GPUs (empty without hosts)."""
        if not self.sandbox.hosts:
            return {}
        return self.sandbox.plan([a.name for a in self.resolved_agents()])

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
