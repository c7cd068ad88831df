"""A daemon stopped with SIGSTOP and continued knows it was gone: its heartbeat comes late, and a warning (an
inbox item) says for how long; while it is stopped, its heartbeat file ages (what a TUI shows as not
responding). The real daemon, the real signals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from aar.lock import holder_pid
from aar.pulse import DAEMON, FROZEN_S, silent_for
from aar.runtime import RunPaths
from tests.support import aar_cli, eventually_sync, start_demo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _warnings(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as raw:
        rows = raw.execute("SELECT payload FROM events WHERE kind = 'log'").fetchall()
    return [p["message"] for (text,) in rows if (p := json.loads(text))["level"] == "warning"]


def test_a_daemon_stopped_and_continued_says_how_long_it_was_gone(tmp_path: Path) -> None:
    paths = start_demo(tmp_path, "team.count=1", "run.max_steps=400", "team.pace_s=0.5")
    root = paths.root
    beat = paths.beat(DAEMON)
    try:
        eventually_sync(lambda: (silent_for(beat) or 99) < 2, what="the daemon's heartbeat", timeout=120)
        pid = holder_pid(paths.lock)
        assert pid is not None and pid > 0
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(FROZEN_S + 3)
            silent = silent_for(beat)
            assert silent is not None and silent >= FROZEN_S, "a stopped daemon does not beat"
        finally:
            os.kill(pid, signal.SIGCONT)
        said = eventually_sync(
            lambda: [w for w in _warnings(paths.db) if w.startswith("the daemon did not run for ")],
            what="the warning that the daemon was gone",
            timeout=60,
        )
        gone = int(said[0].removeprefix("the daemon did not run for ").split("s", 1)[0])
        assert FROZEN_S <= gone <= FROZEN_S + 30, said
        eventually_sync(lambda: (silent_for(beat) or 99) < 2, what="the heartbeat again", timeout=30)
    finally:
        stopped = aar_cli("stop", root.name, cwd=tmp_path, timeout=180)
    assert stopped.returncode == 0, stopped.stderr
