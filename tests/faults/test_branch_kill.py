"""A branch made with ``aar branch`` on the live demo survives ``kill -9`` of the daemon and ``aar resume``: it
goes on from its own transcript (the parent's steps up to the branch, the guidance, its own steps), its
workspace holds what it had, and the parent's transcript up to then is unchanged. Bad input is one line."""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from aar.lock import holder_pid
from aar.runtime import RunPaths
from tests.support import aar_cli, eventually_sync, start_demo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
_aar = functools.partial(aar_cli, timeout=120)
GUIDANCE = "Take the confidence loss instead, and post what you find."


def _query(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
        return raw.execute(sql, args).fetchall()


def _steps(db: Path, agent: str) -> int:
    rows = _query(db, "SELECT steps FROM agents WHERE name = ?", (agent,))
    return int(rows[0][0]) if rows else 0


def _transcript(db: Path, agent: str) -> list[tuple[Any, ...]]:
    return _query(db, "SELECT step, role, content FROM transcripts WHERE agent = ? ORDER BY id", (agent,))


def _kill_9(paths: RunPaths) -> None:
    pid = holder_pid(paths.lock)
    assert pid and pid > 0
    os.kill(pid, signal.SIGKILL)
    eventually_sync(lambda: holder_pid(paths.lock) is None, what="the lock to be released")


def test_a_branch_survives_kill_9_and_resume(tmp_path: Path) -> None:
    paths = start_demo(tmp_path, "team.count=2", "team.pace_s=0.05", "evaluator.seeds=1", "run.snapshot_every_min=0.01")
    run = paths.run_id
    try:
        eventually_sync(lambda: _steps(paths.db, "agent-1") >= 3, timeout=120, what="agent-1's third step")

        # Bad input first: each is one line, and nothing is made.
        for args, said in (
            (["--step", "2", "--guidance", GUIDANCE, "--budget", "$2, lots"], "cannot read 'lots' as an amount"),
            (["--step", "2", "--guidance", "  "], "'guidance' must not be empty"),
            (["--step", "100000", "--guidance", GUIDANCE], "branch refused: agent-1 has taken steps up to"),
        ):
            bad = _aar("branch", run, "agent-1", *args, cwd=tmp_path)
            assert bad.returncode == 2 and said in bad.stderr, bad.stderr
            assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        bad = _aar("branch", run, "nobody", "--step", "1", "--guidance", GUIDANCE, cwd=tmp_path)
        assert bad.returncode == 2 and "no agent named 'nobody'" in bad.stderr

        made = _aar("branch", run, "agent-1", "--step", "2", "--guidance", GUIDANCE, "--budget", "50k", cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        assert made.stdout.startswith("agent-1-b1 branched from agent-1 after step 2 (workspace of step ")
        eventually_sync(lambda: _steps(paths.db, "agent-1-b1") >= 2, timeout=120, what="the branch's second step")
        parent_then = _transcript(paths.db, "agent-1")
        branch_then = _transcript(paths.db, "agent-1-b1")
        upto = [r for r in parent_then if r[0] <= 2]
        assert branch_then[: len(upto)] == upto, "the branch starts with agent-1's transcript up to step 2"
        assert any(GUIDANCE in str(r[2]) for r in branch_then)
        steps_then = _steps(paths.db, "agent-1-b1")

        _kill_9(paths)
        resumed = _aar("resume", run, "--no-attach", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        eventually_sync(
            lambda: _steps(paths.db, "agent-1-b1") >= steps_then + 2, timeout=120, what="the branch to go on"
        )
        branch_now = _transcript(paths.db, "agent-1-b1")
        assert branch_now[: len(branch_then)] == branch_then, "the branch's transcript was rewritten"
        assert _transcript(paths.db, "agent-1")[: len(parent_then)] == parent_then
        assert _query(paths.db, "SELECT agent, parent, step, tokens FROM branches") == [
            ("agent-1-b1", "agent-1", 2, 50_000)
        ]
        assert _query(paths.db, "SELECT count(*) FROM events WHERE kind = 'agent.branched'") == [(1,)]
        report = _aar("report", run, cwd=tmp_path)
        assert "## Branches" in report.stdout and "agent-1-b1 (⑂ agent-1@2)" in report.stdout
    finally:
        _aar("stop", run, cwd=tmp_path)
