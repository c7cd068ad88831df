"""One daemon per run: a live holder refuses a second one; a killed one's lock is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aar.errors import RunLocked
from aar.lock import DaemonLock, holder_pid

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from aar.lock import DaemonLock
    lock = DaemonLock(Path(sys.argv[1])).acquire()
    print("held", flush=True)
    time.sleep(120)  # another process holding the lock until the test kills it
    """
)


def _hold(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_daemon_is_refused_and_stale_lock_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    proc = _hold(path)
    try:
        assert holder_pid(path) == proc.pid
        with pytest.raises(RunLocked, match=f"already driven by daemon pid {proc.pid}"):
            DaemonLock(path).acquire()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert holder_pid(path) is None  # the kernel dropped the lock with the process
    with DaemonLock(path) as lock:
        assert lock.stale_pid == proc.pid
        assert holder_pid(path) == os.getpid()
    assert holder_pid(path) is None


def test_lock_released_cleanly_leaves_no_stale_pid(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    with DaemonLock(path):
        pass
    with DaemonLock(path) as again:
        assert again.stale_pid is None
