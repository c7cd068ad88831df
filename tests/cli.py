"""Driving the real ``aar`` command line from tests: one subprocess runner, one wait on a fact another process writes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def aar_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``aar ARGS`` in ``cwd``, with runs under ``cwd/runs``."""
    env = {**os.environ, "AAR_RUNS_DIR": str(cwd / "runs")}
    return subprocess.run(
        [sys.executable, "-m", "aar_app.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def wait_until(check: Callable[[], T], what: str, timeout: float = 60) -> T:
    """``check()``'s first truthy value; it polls, since the fact lives in another process's files."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
