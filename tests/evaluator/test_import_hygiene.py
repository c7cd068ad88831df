"""The evaluator's daemon-side modules load without torch: training happens only in the worker."""

from __future__ import annotations

import subprocess
import sys

import pytest

DAEMON_SIDE = [
    "evaluator.service",
    "evaluator.final",
    "evaluator.cli",
    "evaluator.submissions",
    "evaluator.supervisor",
    "evaluator.stats",
]


@pytest.mark.parametrize("module", DAEMON_SIDE)
def test_imports_without_torch(module: str) -> None:
    probe = (
        f"import sys, {module}; print(','.join(m for m in ('torch', 'transformers', 'textual') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{module} pulled in {out.stdout.strip()}"
