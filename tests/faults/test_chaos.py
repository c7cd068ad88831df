"""Three minutes of chaos (bench/chaos.py, a fixed seed): faults of several kinds fire, no invariant breaks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = 7
LAST_LINE = re.compile(r"^faults (\d+) \((.*)\), resumes (\d+), invariants (\d+) checked, violations (\d+)$")

pytestmark = pytest.mark.slow


def test_three_minutes_of_chaos_break_no_invariant(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "chaos.py"),
            "--minutes",
            "3",
            "--seed",
            str(SEED),
            "--work",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    out = done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines, out[-3000:]
    said = LAST_LINE.match(lines[-1])
    assert said, f"no summary line; the bench said:\n{out[-3000:]}"
    faults, by_kind, resumes, checked, violations = said.groups()
    kinds = dict(part.rsplit(" ", 1) for part in by_kind.split(", ") if part != "none")
    assert int(violations) == 0 and done.returncode == 0, f"seed {SEED}:\n{out[-6000:]}"
    assert len(kinds) >= 5, f"only {kinds} fired:\n{out[-3000:]}"
    assert {"daemon_kill9", "malformed_event", "malformed_command"} <= set(kinds), kinds
    assert int(resumes) >= 1 and int(faults) >= 8 and int(checked) >= 10
