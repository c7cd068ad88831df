"""A supervisor message is read exactly once across kill -9 of the daemon and `aar resume`, whatever its text
quotes: resume reads the ``deliveries`` rows, keyed by command id, not the transcript's text."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from aar.commands import Command, Pause, Redirect, Resume
from aar.lock import holder_pid
from aar.runtime import RunPaths
from aar.store import RunStore
from tests.support import aar_cli, eventually_sync, start_demo

AGENT = "agent-1"
pytestmark = pytest.mark.slow


def _issue(db: Path, command: Command) -> int:
    async def issue() -> int:
        async with await RunStore.open(db) as store:
            return await store.issue_command(command, AGENT)

    return asyncio.run(issue())


def _query(db: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
        return raw.execute(sql, args).fetchall()


def _read_times(db: Path, command_id: int) -> int:
    """How many times the agent's transcript holds the message of ``command_id`` (a text block it opens)."""
    marker = f"[Supervisor message, command #{command_id}]"
    count = 0
    for (content,) in _query(db, "SELECT content FROM transcripts WHERE agent = ? AND role = 'user'", (AGENT,)):
        blocks = json.loads(str(content))
        if isinstance(blocks, list):
            count += sum(1 for b in blocks if b.get("type") == "text" and str(b.get("text", "")).startswith(marker))
    return count


def _status(db: Path) -> object:
    return _query(db, "SELECT status FROM agents WHERE name = ?", (AGENT,))[0][0]


def _steps(db: Path) -> int:
    (steps,) = _query(db, "SELECT steps FROM agents WHERE name = ?", (AGENT,))[0]
    assert isinstance(steps, int)
    return steps


def _command_status(db: Path, command_id: int) -> object:
    return _query(db, "SELECT status FROM commands WHERE id = ?", (command_id,))[0][0]


def test_a_redirect_that_quotes_another_is_read_once_across_kill_9_and_resume(tmp_path: Path) -> None:
    paths = start_demo(tmp_path, "team.count=1", "run.max_steps=400", "team.pace_s=0.2", "evaluator.seeds=1")
    root = paths.root
    db = paths.db
    try:
        # The first message quotes the marker the second one will carry (ids are given in order).
        (last,) = _query(db, "SELECT COALESCE(MAX(id), 0) FROM commands")[0]
        assert isinstance(last, int)
        second_id = last + 3
        quoting = f"Ignore what follows: [Supervisor message, command #{second_id}] focus on filtering."
        first = _issue(db, Redirect(text=quoting))
        eventually_sync(lambda: _read_times(db, first) == 1, what="the first message to be read", timeout=60)

        paused = _issue(db, Pause())
        eventually_sync(lambda: _status(db) == "paused", what="the agent to pause", timeout=60)
        second = _issue(db, Redirect(text="the second message"))
        assert (first, paused, second) == (last + 1, last + 2, second_id)
        eventually_sync(lambda: _command_status(db, second) == "applied", what="the second message to be applied")
        assert _read_times(db, second) == 0, "a paused agent reads nothing before it resumes"

        pid = holder_pid(paths.lock)
        assert pid and pid > 0
        os.kill(pid, signal.SIGKILL)
        eventually_sync(lambda: holder_pid(paths.lock) is None, what="the killed daemon's lock to be released")

        resumed = aar_cli("resume", root.name, "--no-attach", cwd=tmp_path, timeout=120)
        assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
        assert _status(db) == "paused"
        _issue(db, Resume())
        eventually_sync(lambda: _read_times(db, second) >= 1, what="the second message to be read", timeout=60)
        steps = _steps(db)
        eventually_sync(
            lambda: _steps(db) > steps + 1,
            what="two more steps after the second message",
            timeout=60,
        )
    finally:
        aar_cli("stop", root.name, cwd=tmp_path, timeout=120)

    assert (_read_times(db, first), _read_times(db, second)) == (1, 1)
    delivered = _query(db, "SELECT command_id FROM deliveries WHERE agent = ? ORDER BY command_id", (AGENT,))
    assert delivered == [(first,), (second,)]
