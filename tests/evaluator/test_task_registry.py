"""The task registry and ``[task]`` agree: each task model selects its task, old run files still load."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from aar.config import JsonlTaskConfig, RunConfig, TaskConfig, ToyTaskConfig, load_config
from aar.config.task import TASK_NAMES, TOY_VARIANTS, DigitsTaskConfig
from aar.errors import AarError, ConfigError
from evaluator.compute.tasks import TASKS, load_task, task_from_bundle
from evaluator.compute.tasks.digits import DigitsParams, DigitsTask
from evaluator.compute.tasks.jsonl import JsonlTask
from evaluator.compute.tasks.toy import VARIANTS, ToyParams, ToyTask


def test_every_task_model_has_a_registered_task() -> None:
    def models(annotation: object) -> set[type]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return {annotation}
        return {m for arg in get_args(annotation) for m in models(arg)}

    assert models(TaskConfig) == models(RunConfig.model_fields["task"].annotation)
    assert models(TaskConfig) == {kind.config for kind in TASKS.values()}
    for name, kind in TASKS.items():
        assert get_args(kind.config.model_fields["name"].annotation) == (name,), (
            f"{name} is registered under another name"
        )
    assert tuple(TASKS) == TASK_NAMES, "what `aar eval --task` offers is every registered task"


def test_a_task_table_without_name_is_the_toy_task() -> None:
    config = load_config({"task": {"size": 500}})
    assert isinstance(config.task, ToyTaskConfig)
    task = load_task(config.task, data_seed=3)
    assert isinstance(task, ToyTask) and task.params.size == 500 and task.params.data_seed == 3


def test_the_toy_variant_reaches_the_task_and_its_names_agree_with_the_config() -> None:
    assert tuple(VARIANTS) == TOY_VARIANTS, "the config validates against the generator's variant names"
    default = load_task(load_config({}).task, data_seed=3)
    assert isinstance(default, ToyTask) and default.params == ToyParams(data_seed=3)
    assert replace(default.params, data_seed=0) == VARIANTS["default"]
    classic = load_task(load_config({"task": {"variant": "classic", "size": 500}}).task, data_seed=3)
    assert isinstance(classic, ToyTask)
    assert classic.params == ToyParams.variant("classic", size=500, data_seed=3)
    assert (classic.params.margin, classic.params.modes, classic.params.threshold_labels) == (2.5, 1, False)
    assert classic.key != load_task(load_config({"task": {"size": 500}}).task, data_seed=3).key
    with pytest.raises(ValueError, match="unknown toy variant 'hard'; known: default, classic, tilt, imbalanced, wide"):
        ToyParams.variant("hard")


def test_the_digits_table_reaches_its_task() -> None:
    config = load_config({"task": {"name": "digits", "weak_pool": 4}})
    assert isinstance(config.task, DigitsTaskConfig)
    task = load_task(config.task, data_seed=3)
    assert isinstance(task, DigitsTask) and task.params == DigitsParams(weak_pool=4, data_seed=3)


def test_jsonl_needs_its_three_paths_one_line_each(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"task": {"name": "jsonl", "data_dir": str(tmp_path)}})
    assert str(caught.value).splitlines() == [
        "config: task.weak_model: Field required",
        "config: task.strong_model: Field required",
    ]
    config = load_config(
        {"task": {"name": "jsonl", "data_dir": str(tmp_path)}},
        [
            f"task.weak_model={str(tmp_path)!r}",
            f"task.strong_model={str(tmp_path)!r}",
        ],
    )
    assert isinstance(config.task, JsonlTaskConfig)
    # The folders exist but hold no checkpoint: the task says so in one line before anything trains.
    with pytest.raises(AarError, match=r"holds no model: a checkpoint folder needs config.json") as no_model:
        load_task(config.task)
    assert "\n" not in str(no_model.value)


def test_an_unknown_task_is_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"task": {"name": "mnist"}})
    assert str(caught.value).splitlines() == [
        "config: task.name: Input should be 'toy' or 'jsonl' or 'digits' (got 'mnist')"
    ]
    with pytest.raises(ConfigError, match=r"task.size: unknown key \(allowed: name, data_dir"):
        load_config({"task": {"name": "jsonl", "size": 5}})


def test_a_bundle_naming_an_unknown_task_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="unknown task 'mnist'"):
        task_from_bundle("mnist", {}, tmp_path)
