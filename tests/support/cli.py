"""Driving the real ``aar`` command line from tests, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aar.runtime import RunPaths


def aar_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``aar ARGS`` in ``cwd``, with runs under ``cwd/runs``."""
    env = {**os.environ, "AAR_RUNS_DIR": str(cwd / "runs")}
    return subprocess.run(
        [sys.executable, "-m", "aar_app.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.toml"


def start_demo(cwd: Path, *overrides: str) -> RunPaths:
    """``aar run examples/demo.toml --no-attach --set OVERRIDE ...`` in ``cwd``: the daemon runs detached, and
    this returns the run's folder (the only one under ``cwd/runs``)."""
    sets = [arg for override in overrides for arg in ("--set", override)]
    started = aar_cli("run", str(DEMO), "--no-attach", *sets, cwd=cwd)
    assert started.returncode == 0, started.stderr
    (root,) = (p for p in (cwd / "runs").iterdir() if p.is_dir() and (p / "run.db").exists())
    return RunPaths(root)
