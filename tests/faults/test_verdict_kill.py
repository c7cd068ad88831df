"""A verdict recorded with ``aar review`` while the daemon drives the run survives kill -9 of the daemon and
``aar resume``: it is in the store, its event and its forum post, and the resumed run lists it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from aar.lock import holder_pid
from tests.support import aar_cli, eventually_sync, start_demo

pytestmark = pytest.mark.slow


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
        return raw.execute(sql).fetchall()


def _first_submission(db: Path) -> int | None:
    rows = _query(db, "SELECT MIN(id) FROM submissions")
    first = rows[0][0]
    return first if isinstance(first, int) else None


def test_a_verdict_given_beside_a_live_daemon_survives_kill_9_and_resume(tmp_path: Path) -> None:
    paths = start_demo(tmp_path, "team.count=1", "run.max_steps=400", "team.pace_s=0.2", "evaluator.seeds=1")
    run = paths.root.name
    try:
        sid = eventually_sync(lambda: _first_submission(paths.db), what="the agent's first submission", timeout=120)
        given = aar_cli("review", run, "--verdict", str(sid), "needs-work", "--note", "rerun it", cwd=tmp_path)
        assert given.returncode == 0, given.stderr
        assert given.stdout.startswith(f"submission #{sid}: needs-work recorded")
        assert holder_pid(paths.lock) is not None, "the verdict was given beside the live daemon"

        pid = holder_pid(paths.lock)
        assert pid and pid > 0
        os.kill(pid, signal.SIGKILL)
        eventually_sync(lambda: holder_pid(paths.lock) is None, what="the killed daemon's lock to be released")
        resumed = aar_cli("resume", run, "--no-attach", cwd=tmp_path, timeout=120)
        assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]

        listed = aar_cli("review", run, "--json", "--top", "1", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        (mine,) = [c for c in json.loads(listed.stdout) if c["submission_id"] == sid]
        assert (mine["verdict"]["verdict"], mine["verdict"]["note"]) == ("needs-work", "rerun it")
        posts = _query(paths.db, "SELECT author, body FROM forum_posts WHERE author = 'supervisor'")
        assert len(posts) == 1 and str(posts[0][1]).endswith(": needs-work — rerun it")
    finally:
        aar_cli("stop", run, cwd=tmp_path, timeout=120)
