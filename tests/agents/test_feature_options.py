"""Feature options: the config holds a monitor's ``options`` and ``[scripted]`` as tables; the rule or backend
that reads them owns their defaults and refuses a bad key with one line naming it, before a run exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from aar.config import MonitorConfig, load_config
from aar_app.cli import main
from agents.monitors.base import ThresholdOptions
from agents.monitors.runner import RULES, rule_options
from agents.options import option_problems
from agents.scripted.options import ScriptedOptions

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_each_threshold_rule_defines_its_default() -> None:
    defaults = {
        rule: options().threshold for rule in RULES if issubclass(options := rule_options(rule), ThresholdOptions)
    }
    assert defaults == {"hardcoded_predictions": 200, "probing": 2, "loops": 5, "error_streak": 5, "idle": 30}
    assert rule_options("llm_review")().model_dump() == {"model": "claude-haiku-4-5"}


def test_an_unknown_threshold_key_is_one_line_naming_it() -> None:
    config = load_config({"monitors": [{"rule": "idle"}, {"rule": "loops", "options": {"treshold": 3}}]})
    assert option_problems(config) == ["monitors.1.options.treshold: unknown key (allowed: threshold)"]


def test_a_bad_threshold_and_a_rule_without_options_are_refused() -> None:
    config = load_config(
        {"monitors": [{"rule": "probing", "options": {"threshold": 0}}, {"rule": "label_hunting", "options": {"x": 1}}]}
    )
    assert option_problems(config) == [
        "monitors.0.options.threshold: Input should be greater than 0 (got 0)",
        "monitors.1.options.x: unknown key (allowed: none)",
    ]


def test_run_files_from_before_the_options_table_still_load() -> None:
    """A stored run's config.toml held ``threshold`` and ``model`` beside ``rule``; a resume reads it."""
    config = load_config(
        {
            "monitors": [
                {"rule": "idle", "threshold": 10, "model": "claude-haiku-4-5"},
                {"rule": "llm_review", "model": "claude-x"},
            ]
        }
    )
    assert [m.options for m in config.monitors] == [{"threshold": 10}, {"model": "claude-x"}]
    assert option_problems(config) == []
    assert MonitorConfig(rule="loops").options == {}


def test_the_demo_knobs_default_from_the_scripted_backend() -> None:
    assert ScriptedOptions.of(load_config({})).misbehaving == []
    assert ScriptedOptions.of(load_config(EXAMPLES / "demo.toml")).misbehaving == ["agent-4"]
    config = load_config({}, ["scripted.misbehavin=['agent-1']"])
    assert option_problems(config) == ["scripted.misbehavin: unknown key (allowed: misbehaving)"]


def test_aar_run_refuses_a_bad_option_before_a_run_exists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        f'[run]\nruns_dir = "{tmp_path / "runs"}"\n\n[[monitors]]\nrule = "loops"\noptions = {{ treshold = 3 }}\n'
    )
    assert main(["run", str(bad), "--headless"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "aar: error: config: monitors.0.options.treshold: unknown key (allowed: threshold)"
    ]
    assert not (tmp_path / "runs").exists()
