"""The run's disk fills while a team works: the daemon pauses the team, says how much space it needs (an inbox
item and the standing warning the status bar shows), and goes on by itself once space is back; nothing
committed is lost and the store passes its integrity check. The disk is a real one: a small tmpfs the run
lives on, filled by a file as another program would."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aar.disk import DISK_META
from aar.invariants import check_store
from agents.disk_guard import REASON
from tests.support import aar_cli, eventually_sync, start_demo

DISK_MB = 512
LEFT_MB = 8
"""What the filler leaves free: under the run's reserve (``run.disk_reserve_mb=20``), so the team is paused."""
ENDED = ("finished", "stopped", "out_of_budget")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as raw:
        return list(raw.execute(sql).fetchall())


def _steps(db: Path) -> int:
    return int(str(_query(db, "SELECT COUNT(*) FROM events WHERE kind = 'agent.step'")[0][0]))


def _statuses(db: Path) -> dict[str, tuple[str, str]]:
    """Each agent's status (its row) and the detail of its last status event."""
    sql = (
        "SELECT a.name, a.status, (SELECT json_extract(e.payload, '$.detail') FROM events e "
        "WHERE e.agent = a.name AND e.kind = 'agent.status' ORDER BY e.id DESC LIMIT 1) FROM agents a"
    )
    return {str(n): (str(s), str(d)) for n, s, d in _query(db, sql)}


def _tail(root: Path) -> str:
    return (root / "logs" / "daemon.log").read_text()[-3000:]


class Filler:
    """Another program that fills ``disk`` as a runaway log would: a file that takes all but ``LEFT_MB`` of the
    free space (under the run's 20 MB reserve), and takes again whatever the run frees (a verification's folder
    removed, a WAL checkpointed, the ballast given back). Without the top-up, space freed just after a one-off
    fill let the team go on and, on a loaded machine, finish unpaused; with nothing at all left, whether the
    daemon could still record the pause hung on which of it and the filler took the ballast first."""

    def __init__(self, disk: Path) -> None:
        self.disk = disk
        self.path = disk / "filler"
        self.stop = threading.Event()
        self.path.touch()
        self._top_up()
        self.thread = threading.Thread(target=self._keep_full, name="filler", daemon=True)
        self.thread.start()

    def _top_up(self) -> None:
        stat = os.statvfs(self.disk)
        with open(self.path, "r+b") as f, contextlib.suppress(OSError):  # full before all was allocated: full
            take = stat.f_bavail * stat.f_frsize - LEFT_MB * 1024 * 1024
            if take > 0:
                os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size + take)

    def _keep_full(self) -> None:
        while not self.stop.wait(0.1):
            self._top_up()

    def remove(self) -> None:
        self.stop.set()
        self.thread.join(30)
        self.path.unlink()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    runs = tmp_path / "runs"
    runs.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk for the run needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(runs)], capture_output=True, text=True
    )
    assert mounted.returncode == 0, f"cannot mount a tmpfs for the run: {mounted.stderr}"
    yield runs
    subprocess.run(["umount", "-l", str(runs)], capture_output=True)


def test_a_full_disk_pauses_the_team_which_goes_on_once_space_is_back(small_disk: Path) -> None:
    cwd = small_disk.parent
    root = start_demo(
        cwd, "team.count=2", "run.max_steps=400", "team.pace_s=0.2", "evaluator.seeds=1", "run.disk_reserve_mb=20"
    ).root
    db = root / "run.db"
    filler: Filler | None = None
    try:
        eventually_sync(lambda: _steps(db) >= 2, what="the team to make steps", timeout=180)
        assert (root / "disk-ballast").is_file(), "the daemon holds its ballast while there is space"
        filler = Filler(small_disk)

        def paused() -> bool:
            """Every agent waits for the disk, but one that finished its plan in the step in flight (a scripted
            researcher tries six ideas, and a loaded machine lets it get there while an evaluation runs)."""
            statuses = list(_statuses(db).values())
            waiting = [status == "paused" and detail == REASON for status, detail in statuses]
            return any(waiting) and all(w or status in ENDED for w, (status, _) in zip(waiting, statuses, strict=True))

        eventually_sync(
            paused,
            what=lambda: f"every agent to be paused for the disk: {_statuses(db)}, log {_tail(root)}",
            timeout=300,  # an agent pauses after its tool call: one waiting on a queued evaluation waits for it
        )
        [(standing,)] = _query(db, f"SELECT value FROM meta WHERE key = '{DISK_META}'")
        low = json.loads(str(standing))
        assert low["need_mb"] > 0 and low["path"] == str(root), low

        def inbox() -> list[str]:
            listed = aar_cli("inbox", root.name, "--json", cwd=cwd)
            assert listed.returncode == 0, listed.stderr
            return [i["summary"] for i in json.loads(listed.stdout)]

        eventually_sync(
            lambda: any(s.startswith("disk full: ") and "MB more are free" in s for s in inbox()),
            what=lambda: f"the inbox to say the disk is full: {inbox()}",
            timeout=30,
        )
        held = _steps(db)
        time.sleep(3)
        assert _steps(db) == held, "a paused team makes no steps"

        filler.remove()
        filler = None
        eventually_sync(
            lambda: _query(db, "SELECT COUNT(*) FROM events WHERE kind = 'disk.back'")[0][0] == 1,
            what="the daemon to see the space back",
            timeout=60,
        )
        eventually_sync(lambda: _steps(db) >= held + 2, what="the team to go on", timeout=180)
        assert _query(db, f"SELECT value FROM meta WHERE key = '{DISK_META}'") == [("",)]
    finally:
        if filler is not None:
            filler.remove()
        stopped = aar_cli("stop", root.name, cwd=cwd, timeout=180)
    assert stopped.returncode == 0, stopped.stderr
    assert not any(status == "error" for status, _ in _statuses(db).values()), _statuses(db)
    errors = _query(db, "SELECT payload FROM events WHERE kind = 'error'")
    assert errors == [], errors
    checks = check_store(db)
    assert [v for c in checks for v in c.violations] == []
    assert any(c.name == "store_integrity" and c.count for c in checks)
