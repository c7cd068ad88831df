"""`aar resume` of a run whose workspaces hold every hostile file of the file-tool attacks starts, and says
which workspace it repaired (issue 22, hole 11: a symlinked ``task/`` made the run unresumable)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from pathlib import Path

import pytest

from aar.lock import holder_pid
from aar.runs import summarise
from aar.runtime import RunPaths
from tests.integrity.test_file_attacks import _hostile_workspaces
from tests.support import aar_cli, eventually_sync, start_demo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _repaired(db: Path) -> dict[str, str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
        rows = raw.execute("SELECT agent, payload FROM events WHERE kind = 'workspace.repaired'").fetchall()
    return {agent: json.loads(payload)["found"] for agent, payload in rows}


def test_aar_resume_repairs_hostile_workspaces_and_says_which(base: Path) -> None:
    tmp_path = base  # short: a socket path must fit in 108 bytes
    paths = start_demo(tmp_path, "team.count=5", "run.max_steps=200", "evaluator.seeds=1")
    root = paths.root
    stopped = aar_cli("stop", root.name, cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    eventually_sync(lambda: holder_pid(paths.lock) is None, what="the daemon to stop", timeout=120)
    assert summarise(paths).state == "stopped"

    heldout = sorted((paths.evaluator_dir / "heldout").iterdir())
    before = {p: p.read_bytes() for p in heldout}
    expected = _hostile_workspaces(paths)
    # Hostile files beside the bundle too: the start must pass them by without opening one.
    top = paths.workspace("agent-5")
    os.mkfifo(top / "fifo")
    with open(top / "sparse", "wb") as handle:
        handle.truncate(20 * 2**30)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(top / "sock"))
    (top / "name\nwith a newline").write_text("x")

    resumed = aar_cli("resume", root.name, "--no-attach", cwd=tmp_path, timeout=180)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    try:
        eventually_sync(lambda: holder_pid(paths.lock) is not None, what="the resumed daemon", timeout=60)
        eventually_sync(
            lambda: _repaired(paths.db) == expected, what="a repair event per broken workspace", timeout=120
        )
        assert summarise(paths).state == "running", "one broken workspace never stops a run's start"
        for n in range(1, 6):
            task = paths.workspace(f"agent-{n}") / "task"
            assert task.is_dir() and not task.is_symlink() and (task / "task.json").is_file()
        assert {p: p.read_bytes() for p in heldout} == before, "nothing was followed into evaluator/heldout"

        def alerts() -> list[dict[str, object]]:
            listed = aar_cli("inbox", root.name, "--json", cwd=tmp_path)
            assert listed.returncode == 0, listed.stderr
            return [i for i in json.loads(listed.stdout) if "clean copy" in str(i.get("summary", ""))]

        eventually_sync(
            lambda: len(alerts()) == len(expected), what="an inbox alert per repaired workspace", timeout=60
        )
        assert sorted(str(i["agent"]) for i in alerts()) == sorted(expected)
    finally:
        aar_cli("stop", root.name, cwd=tmp_path)
        eventually_sync(lambda: holder_pid(paths.lock) is None, what="the daemon to stop", timeout=120)
