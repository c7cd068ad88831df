"""A worker does not outlive its daemon, whatever killed the daemon: frozen with SIGSTOP and then killed
with SIGKILL (as ``tests/faults/test_inbox_kill.py`` does), the daemon used to leave its evaluator worker
running for minutes, handed to init and holding run.db open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.evaluator.helpers import make_run
from tests.support import eventually_sync

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
PARENT = """
import asyncio, sys
from pathlib import Path
from aar.runtime import RunPaths
from aar.store import RunStore
from evaluator.daemon.supervisor import WorkerSupervisor

async def main() -> None:
    paths = RunPaths(Path(sys.argv[1]))
    store = await RunStore.open(paths.db, create=True)
    supervisor = WorkerSupervisor(paths, store, job_timeout_s=60)
    supervisor.start()
    Path(sys.argv[2]).write_text(str(supervisor.pid))
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped yet has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _holds(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("frozen", ["daemon", "daemon and worker"])
def test_a_worker_whose_daemon_was_frozen_then_killed_exits_within_5_s(tmp_path: Path, frozen: str) -> None:
    """Frozen with its daemon (a suspended job, a stopped process group), the worker cannot look at its
    parent: only the kernel's parent-death signal ends it."""
    paths = make_run(tmp_path / "run", evaluator={"device": "cpu"})
    pid_file = tmp_path / "worker.pid"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    daemon = subprocess.Popen([sys.executable, "-c", PARENT, str(paths.root), str(pid_file)], env=env, cwd=ROOT)
    worker = 0
    try:
        worker = int(eventually_sync(lambda: pid_file.exists() and pid_file.read_text(), what="the worker's pid"))
        eventually_sync(lambda: _holds(worker, paths.db.resolve()), what="the worker to open run.db")
        os.kill(daemon.pid, signal.SIGSTOP)
        if frozen == "daemon and worker":
            os.kill(worker, signal.SIGSTOP)
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait(10)
        eventually_sync(lambda: not _alive(worker), timeout=5, interval=0.05, what="the orphaned worker to exit")
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
        if worker and _alive(worker):
            os.kill(worker, signal.SIGKILL)
