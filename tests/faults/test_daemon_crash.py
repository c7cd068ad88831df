"""A team that cannot start ends the run at once, as crashed, with the evaluator's job kept."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aar.config import load_config
from aar.events import RunStateChanged
from aar.runs import create_run, summarise
from aar.store import RunStore

EXAMPLES = Path(__file__).parents[2] / "examples"
pytestmark = pytest.mark.slow


def test_a_daemon_without_the_api_key_crashes_promptly_and_keeps_the_queue(tmp_path: Path) -> None:
    # Big toy splits make the baselines job long, so a daemon that waited for it would be slow.
    config = load_config(
        EXAMPLES / "claude.toml",
        [
            f"run.runs_dir={json.dumps(str(tmp_path))}",
            "sandbox.backend='local'",
            "task.size=200000",
            "evaluator.seeds=5",
        ],
    )
    paths = asyncio.run(create_run(config))
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "aar_app.daemon", str(paths.root)], env=env, capture_output=True, text=True, timeout=300
    )
    took = time.monotonic() - start
    assert done.returncode == 1
    summary = summarise(paths)
    assert summary.state == "crashed"
    assert took < 60, f"the daemon took {took:.0f}s to give up"

    async def read() -> tuple[list[str], str | None]:
        async with await RunStore.open(paths.db) as store:
            jobs = await store.jobs()
            rows = await store.events_after(0, kinds=["run.state"])
        last = rows[-1].payload
        return [j.status for j in jobs], last.reason if isinstance(last, RunStateChanged) else None

    statuses, reason = asyncio.run(read())
    assert reason is not None and "$ANTHROPIC_API_KEY is not set" in reason
    assert statuses and all(s in ("queued", "done") for s in statuses), statuses  # nothing lost, nothing left running
