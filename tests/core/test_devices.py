"""The device pool in the config: assignment, conflicts and devices this machine lacks, one line each."""

from __future__ import annotations

from typing import Any

import pytest

from aar.config import load_config
from aar.devices import cpu_count, gpu_count, missing_devices, sandbox_config_for
from aar.errors import ConfigError


def _config(devices: dict[str, Any], count: int = 3, **sections: Any) -> Any:
    return load_config({"team": {"count": count}, "devices": devices, **sections})


def test_round_robin_gives_each_agent_its_own_gpu_and_the_evaluator_its_own() -> None:
    config = _config({"evaluator": ["cuda:0", "cuda:1"], "sandboxes": ["cuda:2", "cuda:3", "cuda:4"]})
    plan = config.device_plan()
    assert plan.evaluator == ["cuda:0", "cuda:1"]
    assert plan.agents == {"agent-1": ["cuda:2"], "agent-2": ["cuda:3"], "agent-3": ["cuda:4"]}
    assert [sandbox_config_for(config, f"agent-{i}").gpus for i in (1, 2, 3)] == ["2", "3", "4"]


def test_an_explicit_map_wins_and_the_rest_go_round_robin() -> None:
    config = _config(
        {"sandboxes": ["cuda:1", "cuda:2", "cuda:3"], "per_agent": 1, "agents": {"agent-2": ["cuda:1", "cuda:5"]}},
        evaluator={"device": "cpu"},
    )
    plan = config.device_plan()
    assert plan.agents == {"agent-2": ["cuda:1", "cuda:5"], "agent-1": ["cuda:2"], "agent-3": ["cuda:3"]}
    assert sandbox_config_for(config, "agent-2").gpus == "1,5"


def test_cpu_devices_stand_in_and_give_sandboxes_no_gpu() -> None:
    config = _config({"evaluator": ["cpu:0", "cpu:1"], "sandboxes": ["cpu:2", "cpu:3", "cpu:4"]})
    assert config.device_plan().evaluator == ["cpu:0", "cpu:1"]
    assert sandbox_config_for(config, "agent-1").gpus == "none"


def test_without_a_pool_the_older_settings_still_work() -> None:
    config = _config({}, evaluator={"device": "cuda"}, sandbox={"gpus": "all"})
    plan = config.device_plan()
    assert plan.evaluator == ["cuda"] and plan.agents == {}
    assert sandbox_config_for(config, "agent-1").gpus == "all"


def test_sharing_when_told_to() -> None:
    config = _config({"evaluator": ["cuda:0"], "sandboxes": ["cuda:0", "cuda:1"], "share": True})
    assert config.device_plan().agents == {"agent-1": ["cuda:0"], "agent-2": ["cuda:1"], "agent-3": ["cuda:0"]}


BAD: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "too few devices",
        {"sandboxes": ["cuda:1", "cuda:2"]},
        {},
        "devices.sandboxes: 3 agents need 3 devices of their own, 2 are free; add devices, or set devices.share = true",
    ),
    (
        "evaluator and agent",
        {"evaluator": ["cuda:0"], "sandboxes": ["cuda:2", "cuda:1", "cuda:0"]},
        {},
        "devices: cuda:0 is given to the evaluator and to agent agent-3; give each its own device",
    ),
    (
        "the older evaluator.device takes GPU 0",
        {"sandboxes": ["cuda:0", "cuda:1", "cuda:2"]},
        {"evaluator": {"device": "auto"}},
        "devices: cuda:0 is given to the evaluator and to agent agent-1",
    ),
    (
        "two agents, one map",
        {"agents": {"agent-1": ["cuda:3"], "agent-2": ["cuda:3"]}},
        {},
        "devices: cuda:3 is given to agent agent-1 and to agent agent-2",
    ),
    ("twice for the evaluator", {"evaluator": ["cpu:0", "cpu:0"]}, {}, "devices.evaluator: cpu:0 is listed twice"),
    ("unknown agent", {"agents": {"bob": ["cuda:1"]}}, {}, "devices.agents.bob: no agent of that name"),
    ("bad name", {"evaluator": ["gpu0"]}, {}, "devices.evaluator.0: must match"),
]


@pytest.mark.parametrize(("why", "devices", "extra", "line"), BAD, ids=[b[0] for b in BAD])
def test_conflicts_are_one_line_before_the_run(
    why: str, devices: dict[str, Any], extra: dict[str, Any], line: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _config(devices, **extra)
    (problem,) = info.value.problems
    assert line in problem and "\n" not in problem


def test_a_device_this_machine_lacks_is_named() -> None:
    plan = _config({"evaluator": ["cuda:7"], "sandboxes": ["cpu:0", "cpu:1", "cpu:64"]}).device_plan()
    lines = missing_devices(plan, gpus=1, cpus=2)
    assert lines == [
        "devices.evaluator: cuda:7 does not exist: this machine has 1 GPU (cuda:0 to cuda:0)",
        "devices: agent agent-3: cpu:64 does not exist: 2 CPU cores here (cpu:0 to cpu:1)",
    ]


def test_this_machines_own_devices_are_checked() -> None:
    """Against the real machine: its CPU cores exist, one past its last GPU does not."""
    gpus, cores = gpu_count(), cpu_count()
    fits = _config({"evaluator": [f"cpu:{cores - 1}"], "sandboxes": ["cpu:0"]}, count=1).device_plan()
    assert missing_devices(fits) == []
    past = _config({"evaluator": [f"cuda:{gpus}"]}, count=1).device_plan()
    (line,) = missing_devices(past)
    assert f"cuda:{gpus} does not exist" in line
    if gpus == 0:
        assert line.endswith("this machine has no GPU; use cpu or cpu:N to stand in")
