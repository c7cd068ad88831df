"""A run whose sandboxes would have no isolation refuses to start, in one line, unless the user waives it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aar.config import SandboxConfig
from sandbox.base import SandboxError
from sandbox.factory import check_isolation
from sandbox.local import LocalSandbox

CONFIG = """
[run]
name = "bare"
runs_dir = "{runs}"

[team]
count = 1

[sandbox]
backend = "local"
"""


def _aar(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}  # the PATH of without_bubblewrap: no bwrap on it
    return subprocess.run(
        [sys.executable, "-m", "aar_app.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


@pytest.mark.usefixtures("without_bubblewrap")
def test_a_run_without_isolation_refuses_to_start_in_one_line(base: Path) -> None:
    runs = base / "runs"
    config = base / "bare.toml"
    config.write_text(CONFIG.format(runs=runs))
    done = _aar(["run", str(config), "--headless"], base)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "bubblewrap" in lines[0] and "Docker" in lines[0] and "none-allowed" in lines[0], lines
    assert not runs.exists() or not any(runs.iterdir()), "no run folder is made for a run that cannot start"


@pytest.mark.usefixtures("without_bubblewrap")
async def test_the_sandbox_itself_fails_closed_and_the_waiver_is_explicit(base: Path) -> None:
    required = SandboxConfig(backend="local")
    with pytest.raises(SandboxError, match="none-allowed"):
        check_isolation(required)
    box = LocalSandbox(required, name="a", workspace=base / "ws")
    with pytest.raises(SandboxError, match="no isolation"):
        await box.start()  # even a caller that skipped the run's check (the verification sandbox)
    allowed = SandboxConfig(backend="local", isolation="none-allowed")
    assert check_isolation(allowed) == "none"
    box = LocalSandbox(allowed, name="a", workspace=base / "ws")
    try:
        assert (await box.exec("echo ran")).stdout == "ran\n"
        assert box.isolation == "none"
        assert box.runs_as == (65534 if os.geteuid() == 0 else None)
    finally:
        await box.stop()
