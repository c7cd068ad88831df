"""The device pool: which device each evaluator worker and each agent's sandbox gets.

Devices are named as torch does, with the index that ``nvidia-smi`` shows:
``cuda:N`` is one GPU, ``cpu:N`` one CPU core (a stand-in where there is no
GPU, so the pool works and is tested anywhere), ``cpu`` every core. The plan
is a pure function of the config (checked when the config loads: a device
given twice, or to the evaluator and an agent, is an error unless
``devices.share`` allows it); whether the devices exist on this machine is
checked separately, before a run starts (``missing_devices``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from aar.config import RunConfig, SandboxConfig

DEVICE_PATTERN = r"^(cpu(:\d+)?|cuda:\d+)$"
"""A device of the pool: ``cpu``, ``cpu:N`` or ``cuda:N``."""
ANY_DEVICE_PATTERN = r"^(auto|cpu(:\d+)?|cuda(:\d+)?)$"
"""What a single-device setting takes (``aar eval --device``): the pool's, plus ``auto`` and ``cuda``."""


class DevicePlan(BaseModel):
    """Who uses which device, derived from ``[devices]`` (and the older ``evaluator.device``)."""

    model_config = ConfigDict(frozen=True)

    evaluator: list[str]
    """One evaluator worker per entry; ``auto`` and ``cuda`` are the older single-device settings."""
    agents: dict[str, list[str]]
    """Devices of each agent's sandbox; an agent missing here keeps ``sandbox.gpus``."""

    def sandbox_gpus(self, agent: str, fallback: str) -> str:
        """``sandbox.gpus`` for ``agent``: its GPU indices, ``none`` for CPU devices, else ``fallback``."""
        if agent not in self.agents:
            return fallback
        return gpus_of(self.agents[agent])


def cuda_index(device: str) -> int | None:
    """``cuda:3`` -> 3; None for anything else."""
    return int(device.split(":")[1]) if device.startswith("cuda:") else None


def cpu_index(device: str) -> int | None:
    """``cpu:1`` -> 1; None for ``cpu`` and GPUs."""
    return int(device.split(":")[1]) if device.startswith("cpu:") else None


def gpus_of(devices: list[str]) -> str:
    """The ``sandbox.gpus`` value that passes exactly these devices' GPUs through."""
    indices = [str(i) for i in (cuda_index(d) for d in devices) if i is not None]
    return ",".join(indices) if indices else "none"


def _as_claimed(device: str) -> str:
    """The device a setting can end up on, for conflict checks: ``auto`` and ``cuda`` take GPU 0."""
    return "cuda:0" if device in ("auto", "cuda") else device


def plan_devices(config: RunConfig) -> DevicePlan:
    """The plan, or ``ValueError`` with one line naming the conflicting key and how to fix it."""
    pool = config.devices
    names = [a.name for a in config.resolved_agents()]
    for name in pool.agents:
        if name not in names:
            raise ValueError(f"devices.agents.{name}: no agent of that name (agents: {', '.join(names)})")
    evaluator = list(pool.evaluator) or [config.evaluator.device]
    for device in evaluator:
        if evaluator.count(device) > 1:
            raise ValueError(f"devices.evaluator: {device} is listed twice; one worker per device")
    agents: dict[str, list[str]] = {n: list(pool.agents[n]) for n in names if n in pool.agents}
    rest = [n for n in names if n not in agents]
    if pool.sandboxes and rest:
        taken = {d for ds in agents.values() for d in ds}
        free = [d for d in pool.sandboxes if pool.share or d not in taken]
        need = len(rest) * pool.per_agent
        if not free or (need > len(free) and not pool.share):
            raise ValueError(
                f"devices.sandboxes: {len(rest)} agents need {need} devices of their own, {len(free)} are free;"
                " add devices, or set devices.share = true to let agents share them"
            )
        for i, name in enumerate(rest):
            agents[name] = [free[(i * pool.per_agent + k) % len(free)] for k in range(pool.per_agent)]
    if not pool.share:
        _check_exclusive(evaluator, agents)
    return DevicePlan(evaluator=evaluator, agents=agents)


def _check_exclusive(evaluator: list[str], agents: dict[str, list[str]]) -> None:
    owner = {_as_claimed(d): "the evaluator" for d in evaluator}
    for name, devices in agents.items():
        for device in devices:
            other = owner.setdefault(device, f"agent {name}")
            if other != f"agent {name}":
                raise ValueError(
                    f"devices: {device} is given to {other} and to agent {name};"
                    " give each its own device, or set devices.share = true"
                )


def check_hosts_beside_the_evaluator(config: RunConfig) -> None:
    """``ValueError`` (one line) when a ``unix://`` host of ``sandbox.hosts`` (this machine's engine) offers
    sandboxes a GPU the evaluator's workers use here too, unless ``devices.share`` allows it."""
    if config.devices.share:
        return
    used = {cuda_index(_as_claimed(d)) for d in plan_devices(config).evaluator}
    for host in config.sandbox.hosts:
        both = sorted({int(g) for g in host.room().gpus} & used) if host.on_this_machine else []
        if both:
            raise ValueError(
                f"sandbox.hosts: {host.label} offers GPU {both[0]} of this machine to sandboxes, and the evaluator"
                f" uses cuda:{both[0]}; take it out of the host's gpus, give the evaluator another device"
                " (devices.evaluator or evaluator.device), or set devices.share = true"
            )


def gpu_count() -> int:
    """GPUs on this machine as ``nvidia-smi`` numbers them (0 where there is no NVIDIA driver)."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        listed = [line for line in out.splitlines() if line.startswith("GPU ")]
        if listed:
            return len(listed)
    gpus = Path("/proc/driver/nvidia/gpus")
    return len(list(gpus.iterdir())) if gpus.is_dir() else 0


def cpu_count() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def missing_devices(plan: DevicePlan, *, gpus: int | None = None, cpus: int | None = None) -> list[str]:
    """One line per device of the plan that this machine lacks (empty when every device exists)."""
    gpus = gpu_count() if gpus is None else gpus
    cpus = cpu_count() if cpus is None else cpus
    where = [("devices.evaluator", d) for d in plan.evaluator] + [
        (f"devices: agent {name}", d) for name, ds in plan.agents.items() for d in ds
    ]
    problems = [missing_device(key, device, gpus=gpus, cpus=cpus) for key, device in where]
    return list(dict.fromkeys(p for p in problems if p))


def missing_device(key: str, device: str, *, gpus: int | None = None, cpus: int | None = None) -> str:
    """Why ``device`` (named by ``key``) does not exist on this machine, or "" when it does."""
    gpu = cuda_index(_as_claimed(device)) if device != "auto" else None
    core = cpu_index(device)
    if gpu is not None:
        gpus = gpu_count() if gpus is None else gpus
        if gpu >= gpus:
            have = f"this machine has {gpus} GPU{'s' if gpus != 1 else ''}" if gpus else "this machine has no GPU"
            hint = f" (cuda:0 to cuda:{gpus - 1})" if gpus else "; use cpu or cpu:N to stand in"
            return f"{key}: {device} does not exist: {have}{hint}"
    elif core is not None:
        cpus = cpu_count() if cpus is None else cpus
        if core >= cpus:
            return f"{key}: {device} does not exist: {cpus} CPU cores here (cpu:0 to cpu:{cpus - 1})"
    return ""


def sandbox_config_for(config: RunConfig, agent: str) -> SandboxConfig:
    """The sandbox settings of one agent: the run's, with the agent's own devices."""
    gpus = config.device_plan().sandbox_gpus(agent, config.sandbox.gpus)
    return config.sandbox if gpus == config.sandbox.gpus else config.sandbox.model_copy(update={"gpus": gpus})
