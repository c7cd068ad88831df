"""Run configs: the shipped examples load; each bad config gives one clear line."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from aar.config import dump_config, load_config
from aar.errors import ConfigError

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize("name", ["demo.toml", "claude.toml", "gpu.toml"])
def test_examples_load(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for folder in ("w2s/data", "w2s/weak", "w2s/strong"):  # what the README's GPU walkthrough creates
        (tmp_path / folder).mkdir(parents=True)
    config = load_config(EXAMPLES / name)
    assert config.resolved_agents()


def test_the_gpu_example_gives_every_owner_its_own_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for folder in ("w2s/data", "w2s/weak", "w2s/strong"):
        (tmp_path / folder).mkdir(parents=True)
    config = load_config(EXAMPLES / "gpu.toml")
    plan = config.device_plan()
    owned = plan.evaluator + [d for ds in plan.agents.values() for d in ds]
    assert len(owned) == len(set(owned)) == 8 and len(plan.agents) == config.team.count
    assert config.task.name == "jsonl" and config.sandbox.image == "aar-sandbox:gpu"


def test_demo_is_offline() -> None:
    config = load_config(EXAMPLES / "demo.toml")
    agents = config.resolved_agents()
    assert len(agents) == 4
    assert {a.backend for a in agents} == {"scripted"}
    assert config.sandbox.backend == "local"
    assert config.task.name == "toy"


BAD_CONFIGS: list[tuple[str, dict[str, Any], list[str], str]] = [
    (
        "a networked sandbox beside a Ray cluster",
        {"evaluator": {"backend": "ray"}, "sandbox": {"network": True}},
        [],
        'sandbox.network = true with evaluator.backend = "ray": a sandbox could reach the Ray cluster',
    ),
    (
        "a run folder neither shared nor sent",
        {"ray": {"run_folder": "nfs"}},
        [],
        "ray.run_folder: Input should be 'object_store' or 'shared' (got 'nfs')",
    ),
    (
        "negative retries",
        {"ray": {"max_retries": -1}},
        [],
        "ray.max_retries: Input should be greater than or equal to 0",
    ),
    ("unknown top-level key", {"teem": {}}, [], "teem: unknown key (allowed: run, team, agents"),
    ("unknown nested key", {"team": {"cuont": 3}}, [], "team.cuont: unknown key (allowed: count, backend"),
    ("negative count", {"team": {"count": 0}}, [], "team.count: Input should be greater than or equal to 1 (got 0)"),
    (
        "unknown backend",
        {"team": {"backend": "openai"}},
        [],
        "team.backend: Input should be 'scripted' or 'anthropic' (got 'openai')",
    ),
    ("count not a number", {"team": {"count": "many"}}, [], "team.count: Input should be a valid integer"),
    ("bad gpus", {"sandbox": {"gpus": "two"}}, [], "sandbox.gpus: must match"),
    ("bad memory", {"sandbox": {"memory": "lots"}}, [], "sandbox.memory: must match"),
    (
        "bad sandbox backend",
        {"sandbox": {"backend": "vm"}},
        [],
        "sandbox.backend: Input should be 'auto', 'docker' or 'local'",
    ),
    (
        "negative cap",
        {"run": {"dollar_cap": -1}},
        [],
        "run.dollar_cap: Input should be greater than or equal to 0 (got -1)",
    ),
    ("bad run name", {"run": {"name": "My Run"}}, [], "run.name: must match"),
    (
        "duplicate agents",
        {"agents": [{"name": "a"}, {"name": "a"}]},
        [],
        "agents: agent names must be unique, repeated: a",
    ),
    ("agent without name", {"agents": [{"direction": "x"}]}, [], "agents.0.name: Field required"),
    (
        "unknown key in agent",
        {"agents": [{"name": "a", "colour": "red"}]},
        [],
        "agents.0.colour: unknown key (allowed: name, direction",
    ),
    (
        "missing data dir",
        {"task": {"name": "jsonl", "data_dir": "/nonexistent/w2s", "weak_model": "/", "strong_model": "/"}},
        [],
        "task.data_dir: path does not exist: /nonexistent/w2s",
    ),
    (
        "unknown toy variant",
        {"task": {"variant": "hard"}},
        [],
        "task.variant: unknown toy variant 'hard'; known: default, classic",
    ),
    ("bad device", {"evaluator": {"device": "tpu"}}, [], "evaluator.device: must match"),
    ("bad override value", {}, ["team.count=-2"], "team.count: Input should be greater than or equal to 1 (got -2)"),
    ("override of unknown key", {}, ["team.colour=3"], "team.colour: unknown key"),
    ("malformed override", {}, ["team.count"], "--set 'team.count': expected key.path=value"),
]


@pytest.mark.parametrize(
    ("data", "overrides", "expected"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config_gives_one_clear_line(data: dict[str, Any], overrides: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(data, overrides)
    lines = str(caught.value).splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0]


def test_every_problem_is_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"team": {"count": 0, "backend": "x"}, "sandbox": {"pids": 1}})
    assert len(caught.value.problems) == 3


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[team\ncount = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_overrides_set_any_key() -> None:
    config = load_config(
        {"agents": [{"name": "ann"}, {"name": "bob"}]},
        ["team.count=2", "sandbox.network=true", "run.name=x", "agents.1.model=claude-x", "task.size=500"],
    )
    assert config.team.count == 2
    assert config.sandbox.network is True
    assert config.run.name == "x"
    assert config.agents[1].model == "claude-x"
    assert config.resolved_agents()[1].model == "claude-x"
    assert config.resolved_agents()[0].model == "scripted-researcher"


def test_dump_round_trips() -> None:
    config = load_config(EXAMPLES / "claude.toml")
    text = dump_config(config)
    again = load_config(tomllib.loads(text))
    assert again == config


def test_dump_round_trips_agents_with_budgets() -> None:
    config = load_config(
        {"agents": [{"name": "ann", "budget": {"dollars": 3.5}}, {"name": "bob", "direction": 'say "hi"\nnow'}]}
    )
    assert load_config(tomllib.loads(dump_config(config))) == config
