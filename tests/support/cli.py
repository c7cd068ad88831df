"""Driving the real ``aar`` command line from tests, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def aar_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``aar ARGS`` in ``cwd``, with runs under ``cwd/runs``."""
    env = {**os.environ, "AAR_RUNS_DIR": str(cwd / "runs")}
    return subprocess.run(
        [sys.executable, "-m", "aar_app.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
