"""One daemon per run: an ``flock`` on ``runs/<id>/daemon.lock``.

The kernel drops an flock when its holder dies, even by ``kill -9``, so a
lock left by a killed daemon is never mistaken for a live one: the next
daemon takes it over and says whose it was (the pid written in the file).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from aar.errors import RunLocked


def _read_pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(path.read_text().split()[0])
    return None


class DaemonLock:
    """Held by the daemon for the whole life of the run; ``with DaemonLock(path) as lock``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.stale_pid: int | None = None
        """Pid of a dead daemon whose lock this one took over, if any."""

    def acquire(self) -> DaemonLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        for attempt in range(5):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt < 4:  # `holder_pid` may hold a shared lock for an instant
                    time.sleep(0.05)
        else:
            os.close(fd)
            owner = _read_pid(self.path)
            who = f"daemon pid {owner}" if owner else "another daemon"
            raise RunLocked(
                f"{self.path.parent.name} is already driven by {who}; `aar stop {self.path.parent.name}` first"
            ) from None
        previous = _read_pid(self.path)
        if previous is not None and previous != os.getpid():
            self.stale_pid = previous
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> DaemonLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def holder_pid(path: Path) -> int | None:
    """The pid of the live daemon holding ``path``, or None when no daemon holds it."""
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(path) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
