"""`aar backup` of a live run: the run goes on meanwhile, and `aar resume` continues the copy elsewhere with the
leaderboard the run had when it was copied."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from aar.lock import holder_pid
from aar.runtime import RunPaths
from tests.support import aar_cli, eventually_sync, start_demo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
        return int(raw.execute(sql).fetchone()[0])


def _leaderboard(run: Path, cwd: Path) -> dict[tuple[int, str], dict[str, Any]]:
    out = aar_cli("report", str(run), "--format", "json", cwd=cwd)
    assert out.returncode == 0, out.stderr
    return {(row["submission_id"], row["split"]): row for row in json.loads(out.stdout)["leaderboard"]}


def test_a_backup_of_a_live_run_resumes_elsewhere_with_its_leaderboard(tmp_path: Path) -> None:
    original = start_demo(tmp_path, "team.count=2", "run.max_steps=400", "team.pace_s=0.2", "evaluator.seeds=1")
    root = original.root
    copy = RunPaths(tmp_path / "elsewhere" / "copy")
    copy.root.parent.mkdir()
    try:
        eventually_sync(
            lambda: _count(original.db, "SELECT COUNT(*) FROM eval_results WHERE submission_id IS NOT NULL") >= 1,
            what="a scored submission",
            timeout=240,
        )
        backed = aar_cli("backup", root.name, str(copy.root), cwd=tmp_path)
        assert backed.returncode == 0, backed.stderr
        assert backed.stdout.startswith(f"backed up to {copy.root}: store ")
        # The run was not paused: its daemon still holds the lock and goes on writing.
        pid = holder_pid(original.lock)
        assert pid is not None and pid > 0
        events = _count(original.db, "SELECT MAX(id) FROM events")
        eventually_sync(lambda: _count(original.db, "SELECT MAX(id) FROM events") > events, what="more events")

        at_backup = _leaderboard(copy.root, tmp_path)
        assert at_backup, "the copy holds the scored submission"
        live = _leaderboard(root, tmp_path)
        assert {key: live[key] for key in at_backup} == at_backup, "the copy's scores are the run's"
        assert (copy.workspace("agent-1") / "task").is_dir() and copy.config.is_file()
        assert not copy.lock.exists() and not (copy.root / "run.db-wal").exists()
    finally:
        stopped = aar_cli("stop", root.name, cwd=tmp_path, timeout=180)
    assert stopped.returncode == 0, stopped.stderr
    frozen = _count(original.db, "SELECT MAX(id) FROM events")

    try:
        copied = _count(copy.db, "SELECT MAX(id) FROM events")
        resumed = aar_cli("resume", str(copy.root), "--no-attach", cwd=tmp_path, timeout=180)
        assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
        eventually_sync(
            lambda: _count(copy.db, f"SELECT COUNT(*) FROM events WHERE id > {copied} AND kind = 'agent.step'"),
            what="an agent of the copy to finish a step",
            timeout=240,
        )
        after = _leaderboard(copy.root, tmp_path)
        assert {key: after[key] for key in at_backup} == at_backup, "a resumed copy keeps every score it had"
    finally:
        aar_cli("stop", str(copy.root), cwd=tmp_path, timeout=180)
    assert _count(original.db, "SELECT MAX(id) FROM events") == frozen, "the copy never writes to the original"
