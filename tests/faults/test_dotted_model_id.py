"""A run that prices a model id with dots survives kill -9 and resumes (its saved config reads back).

Gateway ids such as Bedrock's contain dots; ``[anthropic.prices."claude-3.5-x"]`` was once
written unquoted into ``runs/<id>/config.toml``, and ``aar resume`` then refused the run.
"""

from __future__ import annotations

import os
import signal
import tomllib
from pathlib import Path

import pytest

from aar.config import load_config
from aar.lock import holder_pid
from aar.runs import summarise
from aar.runtime import RunPaths
from tests.faults.test_daemon_kill import _events
from tests.support import aar_cli, eventually_sync

pytestmark = pytest.mark.slow

RUN_FILE = """\
[run]
name = "dotted"
max_steps = 4

[team]
count = 1
backend = "scripted"
pace_s = 0.2

[anthropic.prices."claude-3.5-x"]
input = 3.0
output = 15.0
cache_write = 3.75
cache_read = 0.3

[sandbox]
backend = "local"

[task]
name = "toy"
size = 400

[evaluator]
device = "cpu"
seeds = 1
"""


def test_dotted_price_key_survives_kill_9_and_resume(tmp_path: Path) -> None:
    run_file = tmp_path / "dotted.toml"
    run_file.write_text(RUN_FILE)
    started = aar_cli("run", str(run_file), "--no-attach", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    (root,) = (tmp_path / "runs").iterdir()
    paths = RunPaths(root)

    saved = tomllib.loads(paths.config.read_text())
    assert saved["anthropic"]["prices"]["claude-3.5-x"]["output"] == 15.0
    assert load_config(paths.config).anthropic.prices["claude-3.5-x"].cache_read == 0.3

    pid = holder_pid(paths.lock)
    assert pid and pid > 0
    eventually_sync(
        lambda: any(kind == "agent.step" for _, _, kind, _ in _events(paths.db)), what="a step", timeout=120
    )
    os.kill(pid, signal.SIGKILL)
    eventually_sync(lambda: holder_pid(paths.lock) is None, what="the killed daemon's lock to be released")
    assert summarise(paths).state == "crashed"

    resumed = aar_cli("resume", root.name, "--headless", cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "unknown key" not in resumed.stderr
    assert summarise(paths).state == "finished"
    assert load_config(paths.config).anthropic.prices["claude-3.5-x"].output == 15.0
