"""kill -9 the daemon while it writes; `aar resume` continues and nothing committed is lost."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from aar.lock import holder_pid
from aar.runs import summarise
from aar.runtime import RunPaths
from tests.support import aar_cli, eventually_sync

EXAMPLES = Path(__file__).parents[2] / "examples"
pytestmark = pytest.mark.slow


def _events(db: Path) -> list[tuple[int, str | None, str, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
        return raw.execute("SELECT id, agent, kind, payload FROM events ORDER BY rowid").fetchall()


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_kill_9_mid_run_then_resume(tmp_path: Path) -> None:
    started = aar_cli(
        "run",
        str(EXAMPLES / "demo.toml"),
        "--no-attach",
        "--set",
        "team.count=2",
        "--set",
        "run.max_steps=6",
        "--set",
        "team.pace_s=0.2",
        "--set",
        "evaluator.seeds=1",
        cwd=tmp_path,
    )
    assert started.returncode == 0, started.stderr
    (root,) = (tmp_path / "runs").iterdir()
    paths = RunPaths(root)
    pid = holder_pid(paths.lock)
    assert pid and pid > 0

    # Let the agents work, then kill the daemon in the middle of it.
    eventually_sync(lambda: len(_events(paths.db)) >= 40, what="the daemon to write 40 events", timeout=120)
    children = _children(pid)
    assert children, "the daemon should have spawned its evaluator worker"
    os.kill(pid, signal.SIGKILL)
    eventually_sync(lambda: holder_pid(paths.lock) is None, what="the killed daemon's lock to be released")
    # The daemon's helpers (evaluator worker, sandboxes) must not outlive it.
    eventually_sync(
        lambda: not [c for c in children if _alive(c)], what="every child of the killed daemon to end", timeout=15
    )
    before = _events(paths.db)
    assert summarise(paths).state == "crashed"
    listed = aar_cli("ls", "--format", "json", cwd=tmp_path)
    assert [r["state"] for r in json.loads(listed.stdout)] == ["crashed"]

    resumed = aar_cli("resume", root.name, "--headless", cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    after = _events(paths.db)

    assert after[: len(before)] == before, "a committed event was lost or changed"
    ids = [row[0] for row in after]
    assert ids == list(range(1, len(ids) + 1)), "ids not unique and ordered"
    kinds = [row[2] for row in after[len(before) :]]
    assert "log" in kinds and any("died; resuming" in row[3] for row in after[len(before) :])
    assert summarise(paths).state == "finished"

    report = json.loads(aar_cli("report", root.name, "--format", "json", cwd=tmp_path).stdout)
    assert report["state"] == "finished"
    assert all(a["steps"] > 0 for a in report["agents"])
